import { isCellError, type ChunkKey } from '../core/index.js';
import { isLiveStorage } from '../placement/index.js';
import { listChunks } from './inventory.js';
import { decodeManifest } from './manifest.js';
import type { SwarmClient } from './swarm-client.js';

export interface FsckReport {
  /** Distinct chunks known: held by a live cell or named by a manifest. */
  chunks: number;
  /** Exactly R live copies. */
  healthy: number;
  /** Fewer than R live copies, at least one. */
  underReplicated: number;
  /** Named by a manifest, with no live copy. */
  missing: number;
  /** More than R live copies (removed by healing once R are confirmed). */
  overReplicated: number;
  files: number;
  /** Live storage cells that did not answer: their copies are not counted. */
  unreachableCells: string[];
}

/** Every chunk's live copies against its target R, found by listing every live storage cell and reading every manifest. */
export async function fsck(client: SwarmClient): Promise<FsckReport> {
  const members = (await client.members(true)).filter(isLiveStorage);
  const holders = new Map<ChunkKey, { copies: number; replicas: number; isManifest: boolean }>();
  const unreachableCells: string[] = [];
  await Promise.all(
    members.map(async (m) => {
      try {
        for (const e of await listChunks(client, m.addr)) {
          const h = holders.get(e.key) ?? { copies: 0, replicas: 0, isManifest: false };
          h.copies++;
          h.replicas = Math.max(h.replicas, e.meta.replicas);
          h.isManifest ||= e.meta.isManifest;
          holders.set(e.key, h);
        }
      } catch {
        unreachableCells.push(m.addr);
      }
    }),
  );
  const manifests = [...holders].filter(([, h]) => h.isManifest);
  const referenced = new Map<ChunkKey, number>();
  for (const [id, h] of manifests) {
    try {
      const man = decodeManifest(await client.getChunk(id));
      for (const { key } of man?.chunks.stored() ?? []) referenced.set(key, Math.max(referenced.get(key) ?? 0, h.replicas));
    } catch (err) {
      if (!isCellError(err)) throw err;
    }
  }
  const report: FsckReport = { chunks: 0, healthy: 0, underReplicated: 0, missing: 0, overReplicated: 0, files: manifests.length, unreachableCells };
  const keys = new Set([...holders.keys(), ...referenced.keys()]);
  for (const k of keys) {
    report.chunks++;
    const h = holders.get(k);
    const target = Math.max(h?.replicas ?? 0, referenced.get(k) ?? 0);
    const copies = h?.copies ?? 0;
    if (copies === 0) report.missing++;
    else if (copies < target) report.underReplicated++;
    else if (copies > target) report.overReplicated++;
    else report.healthy++;
  }
  return report;
}
