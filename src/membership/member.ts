import { isCellId, type Addr, type CellId } from '../core/index.js';

export type MemberState = 'alive' | 'suspect' | 'dead' | 'quarantined';
export type Role = 'stem' | 'storage' | 'guard';
export const ROLES: readonly Role[] = ['stem', 'storage', 'guard'];

/** What a member says about itself in every heartbeat. */
export interface MemberInfo {
  id: CellId;
  addr: Addr;
  /** Bumped on each restart; news with a lower incarnation is stale. */
  incarnation: number;
  role: Role;
  pid: number;
  chunks: number;
  bytes: number;
  capacityBytes: number;
  /** The role it announced it is about to take (differentiation), if any. */
  intent?: Role | null;
  /** When it announced that intent (wall ms). */
  intentAtMs?: number;
}

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
  /** Every known member, this cell included (always alive). */
  members(): Member[];
  get(id: CellId): Member | undefined;
  /** Updates what this cell says about itself (role, usage). */
  updateSelf(patch: Partial<Omit<MemberInfo, 'id' | 'addr' | 'incarnation'>>): void;
  onEvent(listener: (e: MembershipEvent) => void): void;
  /** Removes a listener given to onEvent (the same function). */
  offEvent(listener: (e: MembershipEvent) => void): void;
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

const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v >= 0;

/** Validates a MemberInfo from the wire; null if anything is off. */
export function parseMemberInfo(v: unknown): MemberInfo | null {
  if (typeof v !== 'object' || v === null) return null;
  const o = v as Record<string, unknown>;
  if (!isCellId(o.id) || typeof o.addr !== 'string' || !/^[^\s:]+:\d{1,5}$/.test(o.addr)) return null;
  if (!isCount(o.incarnation) || !isCount(o.pid) || !isCount(o.chunks) || !isCount(o.bytes) || !isCount(o.capacityBytes)) {
    return null;
  }
  if (!(ROLES as readonly unknown[]).includes(o.role)) return null;
  const intent = (ROLES as readonly unknown[]).includes(o.intent) ? (o.intent as Role) : null;
  return {
    intent,
    intentAtMs: intent && isCount(o.intentAtMs) ? o.intentAtMs : 0,
    id: o.id,
    addr: o.addr,
    incarnation: o.incarnation,
    role: o.role as Role,
    pid: o.pid,
    chunks: o.chunks,
    bytes: o.bytes,
    capacityBytes: o.capacityBytes,
  };
}
