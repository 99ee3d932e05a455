import type { MembershipDetector } from '../core/index.js';
import { HeartbeatMembership } from './heartbeat.js';
import type { Membership, MembershipComponents, MembershipInit } from './member.js';
import { SwimMembership } from './swim/swim.js';

/** The membership a cell runs: SWIM gossip (the default) or the original full-mesh heartbeat (`--membership mesh`). */
export function createMembership(detector: MembershipDetector, components: MembershipComponents, init: MembershipInit): Membership {
  return detector === 'swim' ? new SwimMembership(components, init) : new HeartbeatMembership(components, init);
}
