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
 * Who is in the swarm and in what state. The full-mesh heartbeat detector
 * implements it today; a gossip (SWIM) detector can replace it without
 * touching callers.
 */
export interface Membership {
  start(): Promise<void>;
  stop(): Promise<void>;
  /**
   * Announces that this cell stops on purpose (an orderly stop, before
   * stop()): peers hold it 'left' rather than dead. Best effort, bounded
   * (at most a second); it says nothing more of itself afterwards.
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
