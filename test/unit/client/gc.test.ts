import test from 'ava';
import { countedInodes } from '../../../src/client/index.js';
import type { RecordEnvelope } from '../../../src/namespace/index.js';

/** A version stamp at wall ms `ms` (namespace/hlc.ts's format). */
const at = (ms: number, node = 'a1') => `${ms.toString(16).padStart(12, '0')}.000000.${node}`;
const rec = (k: string, ms: number, d: unknown): RecordEnvelope => ({ k, v: at(ms), d });
const HOUR = 3_600_000;
const NOW = 100 * HOUR;

test('gc counts the newest version of each inode; a stale live copy older than a tombstone counts for nothing once the tombstone is older than the grace', (t) => {
  const live = { manifest: 'm-old' };
  const copies = [
    // Deleted two hours ago; a former home still holds the live copy.
    rec('i/aa', NOW - 3 * HOUR, live),
    rec('i/aa', NOW - 2 * HOUR, null),
    // Rewritten two hours ago: the old map is superseded, the new one counts.
    rec('i/bb', NOW - 5 * HOUR, { manifest: 'b1' }),
    rec('i/bb', NOW - 2 * HOUR, { manifest: 'b2' }),
    rec('i/bb', NOW - 2 * HOUR, { manifest: 'b2' }),
    // Only ever one version.
    rec('i/cc', NOW - 9 * HOUR, { manifest: 'c1' }),
  ];
  const counted = countedInodes(copies, NOW - HOUR);
  t.deepEqual(
    counted.map((r) => `${r.k}:${JSON.stringify(r.d)}`).sort(),
    ['i/aa:null', 'i/bb:{"manifest":"b2"}', 'i/cc:{"manifest":"c1"}'],
  );
});

test('gc counts a version superseded within the grace period (its successor is recent), and every newer one', (t) => {
  const copies = [
    rec('i/aa', NOW - 3 * HOUR, { manifest: 'a1' }),
    rec('i/aa', NOW - 2 * HOUR, { manifest: 'a2' }),
    rec('i/aa', NOW - 10 * 60_000, { manifest: 'a3' }),
    rec('i/aa', NOW - 60_000, null),
  ];
  const manifests = countedInodes(copies, NOW - HOUR).map((r) => (r.d as { manifest?: string } | null)?.manifest ?? null);
  // a1 was replaced two hours ago: not counted; a2 was replaced 10 minutes ago, a3 a minute ago.
  t.deepEqual(manifests, [null, 'a3', 'a2']);
  t.deepEqual(countedInodes(copies, NOW).length, 1, 'no grace: only the newest');
});
