import type { Addr, CellId, Clock, MembershipConfig, Rng, Unsubscribe } from '../core/index.js';
import type { Endpoint } from '../rpc/index.js';
import type { MemberInfo, MemberState } from '../wire/index.js';
import type { MemberIds } from './member-ids.js';

/** What members say of themselves, and how that is validated, is the wire's (wire/messages/members.ts). */
export { ROLES, parseMemberInfo, type MemberInfo, type MemberState, type Role } from '../wire/index.js';

/** A member as this cell sees it. */
export interface Member extends MemberInfo {
  state: MemberState;
  /** Monotonic time we last heard from it (ms). */
  lastHeardAtMs: number;
  /** Monotonic time its state last changed (ms). */
  stateSinceMs: number;
}

export type MembershipEventType =
  | 'member-joined'
  | 'member-suspected'
  | 'member-died'
  | 'member-left'
  | 'member-recovered'
  | 'member-quarantined'
  | 'quarantine-lifted'
  | 'role-changed';

export interface MembershipEvent {
  type: MembershipEventType;
  member: Member;
}

/**
 * Who is in the swarm and in what state. Two detectors implement it: SWIM
 * gossip (the default) and the original full-mesh heartbeat
 * (createMembership picks one).
 */
export interface Membership {
  start(): Promise<void>;
  stop(): Promise<void>;
  /**
   * Announces that this cell stops on purpose (an orderly stop, before
   * stop()): peers hold it 'left' rather than dead, and never time it out;
   * first-hand news from it at that incarnation or higher brings it back.
   * Best effort, bounded (at most a second).
   */
  leave(): Promise<void>;
  /** Every known member, this cell included (always alive). */
  members(): Member[];
  get(id: CellId): Member | undefined;
  /** Updates what this cell says about itself (role, usage). */
  updateSelf(patch: Partial<Omit<MemberInfo, 'id' | 'addr' | 'incarnation'>>): void;
  /** The returned function removes this listener. */
  onEvent(listener: (e: MembershipEvent) => void): Unsubscribe;
  /**
   * Marks a member quarantined at its current incarnation: sticky until it
   * comes back with a higher one (a restart after rehabilitation).
   */
  quarantine(id: CellId, incarnation: number): void;
  isQuarantined(id: CellId): boolean;
  /**
   * Drops a dead (or left) member for good (retired by its operator): second-hand news
   * of it is ignored from then on; only the cell itself, speaking again,
   * brings it back. False if it is neither.
   */
  forget(id: CellId): boolean;
}

/** What either detector is handed. */
export interface MembershipComponents {
  clock: Clock;
  rng: Rng;
  endpoint: Endpoint;
  /** Member ids shared by the detectors of one process (a simulator's 10,000); each detector has its own if not given. */
  memberIds?: MemberIds;
}

export interface MembershipInit {
  self: MemberInfo;
  /** Addresses to join through; any one live seed teaches us the whole swarm. */
  seeds: Addr[];
  config: MembershipConfig;
  /**
   * Members this cell knew when it last stopped in order (cell/remembered-members.ts): held 'left'
   * from the start, so a cell that comes back before the others (a whole swarm restarted) does not
   * take their absence for deaths.
   */
  left?: MemberInfo[];
  /**
   * Members held alive from the start, without a JOIN and without news or events: a swarm whose
   * members are all known at once, as the membership simulator boots 10,000 cells in steady state.
   */
  known?: MemberInfo[];
  logPrefix?: string;
}
