export {
  rendezvousScore,
  placementOrder,
  replicaSet,
  isLiveStorage,
  storageCandidates,
  type Candidate,
  type PlacementMember,
} from './rendezvous.js';
