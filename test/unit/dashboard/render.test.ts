import test from 'ava';
import { RepairBacklog, renderScreen, swarmWarnings, type CellReport, type ScreenState, type SwarmSnapshot } from '../../../src/dashboard/index.js';
import type { FsckReport } from '../../../src/client/index.js';
import type { ListedMember } from '../../../src/wire/index.js';

// eslint-disable-next-line no-control-regex
const plain = (s: string) => s.replace(/\u001b\[[0-9;]*m/g, '');

function member(id: string, role: ListedMember['role'], state: ListedMember['state'], chunks = 12): ListedMember {
  return { id: id.padEnd(16, '0'), addr: `127.0.0.1:71${id.length}0`, incarnation: 1, role, pid: 1, chunks, bytes: chunks * 1024 * 1024, capacityBytes: 100 * 1024 * 1024, intent: null, intentAtMs: 0, state, lastHeardMs: 300 };
}

const health: FsckReport = {
  chunks: 10, healthy: 7, underReplicated: 2, missing: 1, overReplicated: 0, files: 3, unused: 0, atRiskFiles: 1,
  atRisk: [{ path: '/photos/cat.jpg', ino: '5', chunks: [{ key: 'a'.repeat(64), copies: 0, target: 3 }, { key: 'b'.repeat(64), copies: 2, target: 3 }] }],
  unreachableCells: [], awayCells: [],
};

function snapshot(members: ListedMember[], atMs: number): SwarmSnapshot {
  const backlog = new RepairBacklog();
  backlog.add(atMs - 10_000, 13);
  backlog.add(atMs, 3);
  return { atMs, members, reports: new Map(), health, healthAtMs: atMs - 2_000, backlog: backlog.view(), repairBytesPerSec: 2 * 1024 * 1024 };
}

function screen(st: Partial<ScreenState> & { snapshot: SwarmSnapshot | null }): string {
  return plain(renderScreen({ nowMs: st.snapshot?.atMs ?? 0, silentSinceMs: null, seeds: ['127.0.0.1:7100'], replicas: 3, ...st }, [], 200, 60, 'home'));
}

test('the screen is stamped with the age of its data, the health check with its own', (t) => {
  const s = snapshot([member('a', 'storage', 'alive'), member('bb', 'storage', 'alive'), member('ccc', 'storage', 'alive'), member('dddd', 'guard', 'alive')], 1_000_000);
  const out = screen({ snapshot: s, nowMs: 1_003_000 });
  t.regex(out, /data of 00:16:40 \(3 s old\)/);
  t.regex(out, /checked 5 s ago/);
  t.notRegex(out, /warning/);
  t.notRegex(out, /no cell answered/);
});

test('when no cell answers, top says for how long and claims no state, health or counts', (t) => {
  const s = snapshot([member('a', 'storage', 'alive', 777)], 1_000_000);
  const out = screen({ snapshot: s, nowMs: 1_012_000, silentSinceMs: 1_000_000 });
  t.regex(out, /no cell answered for 12 s: is the swarm up \(cellsync swarm status\)\? Asking 127\.0\.0\.1:7100$/m);
  t.regex(out, /data of 00:16:40 \(12 s old\)/);
  t.notRegex(out, /healthy|777|alive/);
  t.regex(out, /no answer/);
  // Never any answer at all: the same line, and no rows.
  t.regex(screen({ snapshot: null, nowMs: 5_000, silentSinceMs: 0 }), /no cell answered for 5 s/);
});

test("a dead cell's row says dead without its last counts; live rows show free space", (t) => {
  const out = screen({ snapshot: snapshot([member('a', 'storage', 'alive', 5), member('bb', 'storage', 'dead', 4321)], 1_000_000) });
  const dead = out.split('\n').find((l) => l.startsWith('bb'))!;
  t.regex(dead, /dead/);
  t.notRegex(dead, /4321|M /);
  const live = out.split('\n').find((l) => l.startsWith('a0'))!;
  t.regex(live, /\s5\s+5\.0M\s+95M\s/, 'chunks, bytes, free');
});

test('files at risk are listed by path, and the repair backlog with progress, pace and time left', (t) => {
  const out = screen({ snapshot: snapshot([member('a', 'storage', 'alive')], 1_000_000) });
  t.regex(out, /files at risk 1/);
  t.regex(out, /\/photos\/cat\.jpg\s+1 chunk with no live copy\s+copies 2\/3/);
  t.regex(out, /repair backlog 3 chunks \(77% of 13 done\)\s+1\.0 chunks\/s\s+2\.0M\/s\s+~3 s left/);
});

test('warnings: no guard alive, fewer storage cells alive than R', (t) => {
  t.deepEqual(swarmWarnings([member('a', 'storage', 'alive'), member('b', 'storage', 'alive'), member('c', 'storage', 'alive'), member('d', 'guard', 'alive')], 3), []);
  const w = swarmWarnings([member('a', 'storage', 'alive'), member('b', 'storage', 'dead'), member('c', 'storage', 'alive'), member('d', 'guard', 'dead')], 3);
  t.is(w.length, 2);
  t.regex(w[0]!, /no guard cell alive/);
  t.regex(w[1]!, /2 storage cells alive, fewer than R=3/);
  t.regex(screen({ snapshot: snapshot([member('a', 'storage', 'alive')], 1) }), /warning: no guard[^]*warning: 1 storage cell alive, fewer than R=3/);
});

test('the backlog: progress against its peak, no estimate while it does not shrink, a new peak after it emptied', (t) => {
  const b = new RepairBacklog();
  t.is(b.view(), null);
  b.add(0, 10);
  t.like(b.view(), { chunks: 10, peak: 10, done: 0, etaS: null });
  b.add(5_000, 10);
  t.is(b.view()!.etaS, null, 'not shrinking: no estimate');
  b.add(10_000, 5);
  t.like(b.view(), { chunks: 5, done: 0.5, chunksPerSec: 0.5, etaS: 10 });
  b.add(15_000, 0);
  t.like(b.view(), { chunks: 0, peak: 0, done: 1, etaS: null });
  b.add(20_000, 4);
  t.like(b.view(), { peak: 4, done: 0 });
  // Old measurements leave the window: the pace is the recent one.
  for (let i = 1; i <= 100; i++) b.add(20_000 + i * 1_000, 4);
  t.is(b.view()!.chunksPerSec, 0);
});

test('the no-answer line names a few addresses, and says so when the cells hold another key', (t) => {
  const seeds = ['127.0.0.1:7100', '127.0.0.1:7101', '127.0.0.1:7102', '127.0.0.1:7103', '127.0.0.1:7104'];
  t.regex(screen({ snapshot: null, nowMs: 3_000, silentSinceMs: 0, seeds }), /Asking 127\.0\.0\.1:7100, 127\.0\.0\.1:7101, 127\.0\.0\.1:7102 and 2 more$/m);
  const wrong = screen({ snapshot: null, nowMs: 3_000, silentSinceMs: 0, seeds, wrongKeyAt: ['127.0.0.1:7100'] });
  t.regex(wrong, /no cell answered for 3 s: cells at 127\.0\.0\.1:7100 answer but not with this swarm's key \(check --home\)/);
});

test('the clients the cells see watching their views are listed once each, the many counted', (t) => {
  const s = snapshot([member('a', 'storage', 'alive')], 1_000_000);
  t.notRegex(screen({ snapshot: s }), /clients/, 'none: no line');
  // Only what the screen reads of a report (rows are keyed by member ids, none of these).
  const report = (id: string, clients: string[]) => ({ id, clients, heal: { activity: '' } }) as unknown as CellReport;
  s.reports.set('a', report('a', ['127.0.0.1:40001', '127.0.0.1:40002']));
  s.reports.set('b', report('b', ['127.0.0.1:40002']));
  t.regex(screen({ snapshot: s }), /^clients 2: 127\.0\.0\.1:40001 {2}127\.0\.0\.1:40002$/m);
  s.reports.set('c', report('c', Array.from({ length: 10 }, (_, i) => `127.0.0.1:5000${i}`)));
  t.regex(screen({ snapshot: s }), /^clients 12: (\S+ {2}){8}…$/m);
});
