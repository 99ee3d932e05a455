import test from 'ava';
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { Scrape, parseMetricsAddr, scrapeMetrics } from '../../src/metrics/index.js';
import { chunkFiles, cli, eventually, holders, mountLogs, mountSwarm, pidOf, sh, swarmCells, swarmUp, tmpDir } from '../helpers/index.js';

/** host:port of a metrics URL a cell or a mount printed ("metrics on http://127.0.0.1:NNNN/metrics"). */
function addrIn(text: string, what: string): string {
  const m = /metrics on http:\/\/([\d.]+:\d+)\/metrics/.exec(text);
  if (!m) throw new Error(`no metrics address in the output of ${what}:\n${text}`);
  return m[1]!;
}

const scrape = (addr: string) => scrapeMetrics(parseMetricsAddr(addr), 5_000);

/** A counter's growth between two scrapes. */
const grew = (a: Scrape, b: Scrape, name: string, labels?: Record<string, string>) => b.value(name, labels) - a.value(name, labels);

test.serial('a mount and its cells serve metrics that count what was done through the mount; stats reads them; the endpoints close on stop', async (t) => {
  const home = await swarmUp(t, 4, ['--metrics', '127.0.0.1:0']);
  const cells = await swarmCells(home);
  const cellAddrs = await Promise.all(cells.map(async (c) => addrIn(await readFile(path.join(c.data, 'cell.log'), 'utf8'), c.name)));
  t.is(new Set(cellAddrs).size, 4, 'each cell on a port of its own');
  const m = await mountSwarm(t, home, undefined, ['--metrics', '127.0.0.1:0']);
  const mountAddr = addrIn(await mountLogs(home), 'the mount');

  const before = await scrape(mountAddr);
  // File operations from a child process, as a user makes them: numbers the test knows exactly.
  const size = 2_500_000;
  const src = await tmpDir(t);
  const w = await sh(
    `set -e; head -c ${size} /dev/urandom > "${src}/f"; cd "${m.mnt}"; mkdir d1 d2 d3; cp "${src}/f" d1/f; touch d2/a d2/b; mv d2/a d2/c; rm d2/b; ` +
      `for i in 1 2 3; do stat missing-$i 2>/dev/null && exit 9; done; true`,
  );
  t.is(w.code, 0, w.stderr);
  // A read of the whole file from a cold mount cache (SIGUSR2 empties it; drop_caches the kernel's).
  process.kill(m.pid, 'SIGUSR2');
  const r = await sh(`echo 3 > /proc/sys/vm/drop_caches; cmp "${src}/f" "${m.mnt}/d1/f" && echo same`);
  t.regex(r.stdout, /same/, r.stderr);
  const after = await scrape(mountAddr);

  const ops = (op: string) => grew(before, after, 'cellsync_fuse_op_seconds_count', { op });
  t.is(ops('mkdir'), 3);
  t.is(ops('create'), 3, 'cp and two touches');
  t.is(ops('rename'), 1);
  t.is(ops('unlink'), 1);
  t.true(ops('write') >= Math.ceil(size / 131_072), `writes: ${ops('write')}`);
  t.is(grew(before, after, 'cellsync_fuse_written_bytes_total'), size);
  t.is(grew(before, after, 'cellsync_fuse_read_bytes_total'), size);
  t.true(grew(before, after, 'cellsync_fuse_op_errors_total', { op: 'getattr' }) >= 3, 'the stats of missing names');
  t.is(after.samples('cellsync_fuse_op_failures_total').reduce((a, s) => a + s.value, 0), 0, 'ENOENT is an answer: no EIO or ENOSPC');
  t.true(grew(before, after, 'cellsync_chunk_cache_misses_total') >= 1, 'the cold read fetched its chunk');
  t.true(grew(before, after, 'cellsync_chunk_cache_hits_total') >= 1, 'and then read from it in memory');
  // Each op's histogram is whole: its +Inf bucket is its count, its latency adds up.
  for (const h of after.histogram('cellsync_fuse_op_seconds')) {
    t.is(h.buckets.at(-1)!.n, h.count, h.labels.op);
    if (h.count > 0) t.true(h.sum > 0, h.labels.op);
  }
  t.true(after.value('process_resident_memory_bytes') > 0);

  // The cells: every one sees four alive members and has used the wire.
  const views = await Promise.all(cellAddrs.map(scrape));
  for (const v of views) {
    t.is(v.value('cellsync_members', { state: 'alive' }), 4);
    t.true(v.value('cellsync_wire_frames_received_total') > 0);
  }
  // A cell holding the file's chunk is SIGKILLed: the survivors see it dead and count the copies they make in its stead.
  const [victim] = await holders(cells);
  const lost = (await chunkFiles(victim!)).length;
  const lostBytes = (await Promise.all((await chunkFiles(victim!)).map(async (f) => (await stat(f)).size))).reduce((a, b) => a + b, 0);
  process.kill(await pidOf(victim!), 'SIGKILL');
  const survivors = cellAddrs.filter((_, i) => cells[i] !== victim);
  const repaired = await eventually(
    async () => {
      const now = await Promise.all(survivors.map(scrape));
      const copies = now.reduce((a, v) => a + v.value('cellsync_repair_copies_total'), 0);
      return copies >= lost && now.every((v) => v.value('cellsync_members', { state: 'dead' }) === 1) ? now : null;
    },
    30_000,
    `${lost} repair copies counted by the survivors`,
    250,
  );
  t.true(repaired!.reduce((a, v) => a + v.value('cellsync_repair_bytes_total'), 0) >= lostBytes * 0.5, 'repair bytes counted');

  // stats: one interval, a line for the mount with its ops, a line for a cell.
  const st = await cli(['stats', '--metrics', mountAddr, '--metrics', survivors[0]!, '--once']);
  t.is(st.code, 0, st.stderr);
  t.regex(st.stdout, new RegExp(`^\\d\\d:\\d\\d:\\d\\d ${mountAddr} mount {2}ops [\\d.,]+/s {2}read `, 'm'));
  t.regex(st.stdout, new RegExp(`^\\d\\d:\\d\\d:\\d\\d ${survivors[0]} cell {2}in `, 'm'));
  const dead = await cli(['stats', '--metrics', cellAddrs[cells.indexOf(victim!)]!, '--once']);
  t.is(dead.code, 1);
  t.regex(dead.stderr, /nothing answers there/);

  // Unmounted, the mount's endpoint is gone; a stopped cell's too.
  const u = await cli(['umount', m.mnt]);
  t.is(u.code, 0, u.stderr);
  await eventually(() => scrape(mountAddr).then(() => false, (err: Error) => /nothing answers/.test(err.message)), 10_000, 'the mount endpoint closed');
  const down = await cli(['swarm', 'down', '--home', home]);
  t.is(down.code, 0, down.stderr);
  for (const a of survivors) await t.throwsAsync(scrape(a), { message: /nothing answers/ });
});

test('wrong --metrics: a clear message and exit 2, before anything starts', async (t) => {
  const home = path.join(await tmpDir(t), 'home');
  t.is((await cli(['init', '--home', home])).code, 0);
  const data = path.join(home, 'c');
  const bad = await cli(['cell', 'start', '--home', home, '--data', data, '--metrics', 'abc']);
  t.is(bad.code, 2);
  t.regex(bad.stderr, /--metrics: "abc" is not an address: expected IP:PORT, e\.g\. 127\.0\.0\.1:9464/);
  const open = await cli(['mount', '--home', home, data, '--metrics', '0.0.0.0:9464']);
  t.is(open.code, 2);
  t.regex(open.stderr, /0\.0\.0\.0 is not a loopback address.*--metrics-allow-remote/);
  const elsewhere = await cli(['swarm', 'up', '--home', home, '--metrics', '192.0.2.200:9464', '--metrics-allow-remote']);
  t.is(elsewhere.code, 2);
  t.regex(elsewhere.stderr, /192\.0\.2\.200 is not an address of this machine/);
  t.notRegex(bad.stderr + open.stderr + elsewhere.stderr, /\n\s+at /, 'no stack trace');
  const none = await cli(['stats', '--metrics', '127.0.0.1:1', '--once']);
  t.is(none.code, 1);
  t.regex(none.stderr, /127\.0\.0\.1:1: nothing answers there/);
});
