import type { Role } from '../membership/index.js';

/** What a cell sees of one member when choosing its role. */
export interface RoleView {
  id: string;
  role: Role;
  /** The role it has announced it is about to take, if any. */
  intent: Role | null;
  /** When it announced that intent (wall ms): earlier claims win. */
  intentAtMs: number;
  capacityBytes: number;
  bytes: number;
}

export interface RoleTargets {
  replicas: number;
  storagePerGuard: number;
  fullBelowFreeShare: number;
}

export interface Need {
  role: Role;
  /** How many more cells the swarm wants in that role. */
  deficit: number;
}

/**
 * The role the swarm lacks most, from the roles members actually have (pure,
 * for tables): storage until R storage cells exist, or while storage is
 * nearly full; then guards up to one per storagePerGuard storage cells (at
 * least one); else nothing (a stem cell stays a hot spare).
 */
export function neededRole(members: RoleView[], t: RoleTargets): Need | null {
  const storage = members.filter((m) => m.role === 'storage');
  const guards = members.filter((m) => m.role === 'guard').length;
  if (storage.length < t.replicas) return { role: 'storage', deficit: t.replicas - storage.length };
  const capacity = storage.reduce((s, m) => s + m.capacityBytes, 0);
  const used = storage.reduce((s, m) => s + m.bytes, 0);
  if (capacity > 0 && (capacity - used) / capacity < t.fullBelowFreeShare) return { role: 'storage', deficit: 1 };
  const guardsWanted = Math.max(1, Math.floor(storage.length / t.storagePerGuard));
  if (guards < guardsWanted) return { role: 'guard', deficit: guardsWanted - guards };
  return null;
}

/** Claims for the same role that beat this cell's (announced earlier; ties: lower id). */
export function betterClaims(self: { id: string; intentAtMs: number }, intent: Role, members: RoleView[]): number {
  return members.filter(
    (m) => m.id !== self.id && m.intent === intent && (m.intentAtMs < self.intentAtMs || (m.intentAtMs === self.intentAtMs && m.id < self.id)),
  ).length;
}
