import { createHash } from 'node:crypto';
import type { CellId, ChunkKey } from '../core/index.js';

export interface Candidate {
  id: CellId;
  /** Relative share of keys this cell should get (e.g. its capacity); 1 when unweighted. */
  weight: number;
}

/**
 * Rendezvous (highest-random-weight) score of a key on a cell: every member
 * computes the same number from the same inputs, so every member agrees on
 * where a key lives without asking anyone; when a cell comes or goes only the
 * keys it ranks first for move. Weighted by -w / ln(u) (logarithmic method),
 * u uniform in (0, 1) from SHA-256(key, cell).
 */
export function rendezvousScore(key: ChunkKey, cell: Candidate): number {
  const h = createHash('sha256').update(key).update(cell.id).digest();
  // 52 bits of hash -> u in (0, 1), never 0 or 1.
  const u = (h.readUIntBE(0, 6) * 16 + (h[6]! >> 4) + 0.5) / 2 ** 52;
  return -cell.weight / Math.log(u);
}

/** Candidates ordered by score for the key, best first; ties broken by id so the order is total. */
export function placementOrder(key: ChunkKey, candidates: readonly Candidate[]): CellId[] {
  return candidates
    .filter((c) => c.weight > 0)
    .map((c) => ({ id: c.id, score: rendezvousScore(key, c) }))
    .sort((a, b) => b.score - a.score || (a.id < b.id ? -1 : 1))
    .map((c) => c.id);
}

/** The R cells a key belongs on: the first R in placement order. */
export function replicaSet(key: ChunkKey, candidates: readonly Candidate[], replicas: number): CellId[] {
  return placementOrder(key, candidates).slice(0, replicas);
}

/** The minimum placement needs to know about a member. */
export interface PlacementMember {
  id: CellId;
  role: string;
  state: string;
  capacityBytes: number;
}

/**
 * Members that can hold chunks now: storage cells that are alive or merely
 * suspect (not dead, not quarantined, and not left: a cell stopped on purpose
 * serves nothing until it returns; only healing keeps its place, heal/healer.ts).
 */
export function isLiveStorage(m: PlacementMember): boolean {
  return m.role === 'storage' && (m.state === 'alive' || m.state === 'suspect');
}

export function storageCandidates(members: readonly PlacementMember[], weightByCapacity: boolean): Candidate[] {
  return members
    .filter(isLiveStorage)
    .map((m) => ({ id: m.id, weight: weightByCapacity ? Math.max(1, m.capacityBytes / 2 ** 30) : 1 }));
}
