export { rendezvousScore, placementOrder, replicaSet, type Candidate } from './rendezvous.js';
