import type { CellId, Unsubscribe } from '../core/index.js';
import type { MemberInfo, MemberState } from '../wire/index.js';

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
   * Announces that this cell is stopping on purpose (best effort, returns
   * within 1 s): peers hold it 'left', not dead, and never time it out;
   * first-hand news from it at that incarnation or higher brings it back.
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
   * Drops a dead member for good (retired by its operator): second-hand news
   * of it is ignored from then on; only the cell itself, speaking again,
   * brings it back. False if it is not dead.
   */
  forget(id: CellId): boolean;
}
