import test from 'ava';
import http from 'node:http';
import { CellError } from '../../../src/core/index.js';
import type { SwarmFs } from '../../../src/mount/fs/index.js';
import { ratesBetween, quantile, formatRates, type MountRates } from '../../../src/dashboard/index.js';
import { FixedHistogram, MetricsAddrError, MetricsServer, Registry, Scrape, counterOf, isLoopback, labelledCounterOf, parseMetricsAddr, parseTextFormat, scrapeMetrics } from '../../../src/metrics/index.js';
import { mountRegistry } from '../../../src/mount/metrics.js';
import { FUSE_OPS, FUSE_OP_SECONDS_BUCKETS, FuseOpMetrics } from '../../../src/mount/op-metrics.js';
import { fuseOps } from '../../../src/mount/ops.js';
import { newCounters } from '../../../src/rpc/counters.js';

test('--metrics addresses: IP:PORT, [v6]:PORT, a port alone; loopback only unless allowed; anything else is refused with what to give', (t) => {
  t.deepEqual(parseMetricsAddr('127.0.0.1:9464'), { host: '127.0.0.1', port: 9464 });
  t.deepEqual(parseMetricsAddr('9464'), { host: '127.0.0.1', port: 9464 });
  t.deepEqual(parseMetricsAddr('[::1]:0'), { host: '::1', port: 0 });
  t.deepEqual(parseMetricsAddr('127.1.2.3:80'), { host: '127.1.2.3', port: 80 });
  for (const bad of ['abc', '127.0.0.1', '127.0.0.1:', '127.0.0.1:70000', '127.0.0.1:-1', 'localhost:9464', ':9464x', '']) {
    t.throws(() => parseMetricsAddr(bad), { instanceOf: MetricsAddrError }, bad);
  }
  t.throws(() => parseMetricsAddr('0.0.0.0:9464'), { instanceOf: MetricsAddrError, message: /not a loopback address.*--metrics-allow-remote/ });
  t.throws(() => parseMetricsAddr('192.0.2.7:9464'), { message: /not a loopback/ });
  t.deepEqual(parseMetricsAddr('0.0.0.0:9464', { allowRemote: true }), { host: '0.0.0.0', port: 9464 });
  t.true(isLoopback('::ffff:127.0.0.1'));
  t.false(isLoopback('::'));
});

test('the text format is read back: labels with escapes, +Inf, timestamps; a line that is not a sample is refused', (t) => {
  const samples = parseTextFormat('# HELP a x\n# TYPE a counter\na_total 3\n\nb{x="q\\"uote",y="l\\nf"} +Inf 1700000000\nc{} 1.5e3\n');
  t.deepEqual(samples, [
    { name: 'a_total', labels: {}, value: 3 },
    { name: 'b', labels: { x: 'q"uote', y: 'l\nf' }, value: Infinity },
    { name: 'c', labels: {}, value: 1500 },
  ]);
  t.throws(() => parseTextFormat('<html>not metrics</html>'), { message: /not a sample line/ });
  t.throws(() => parseTextFormat('a{x=1} 2'), { message: /bad labels/ });
});

test('quantiles from cumulative buckets interpolate within the bucket, as histogram_quantile does', (t) => {
  const b = [
    { le: 0.001, n: 50 },
    { le: 0.01, n: 90 },
    { le: 0.1, n: 100 },
    { le: Infinity, n: 100 },
  ];
  t.is(quantile(b, 0.5), 0.001);
  t.true(Math.abs(quantile(b, 0.7) - 0.0055) < 1e-12);
  t.true(Math.abs(quantile(b, 0.99) - (0.01 + 0.09 * 0.9)) < 1e-12);
  t.is(quantile([{ le: 0.5, n: 0 }, { le: Infinity, n: 3 }], 0.99), 0.5);
  t.is(quantile([], 0.99), 0);
});

test('a fixed histogram is formatted by prom-client as a Prometheus histogram: cumulative buckets, sum, count, per label value', async (t) => {
  const r = new Registry();
  const h = new FixedHistogram('x_seconds', 'test', 'op', ['a', 'b'] as const, [0.01, 0.1]);
  h.register(r);
  h.observe(0, 0.005);
  h.observe(0, 0.05);
  h.observe(0, 5);
  h.observe(1, 0.01);
  const s = new Scrape(0, await r.metrics());
  const [a, b] = s.histogram('x_seconds');
  t.deepEqual(a, { labels: { op: 'a' }, buckets: [{ le: 0.01, n: 1 }, { le: 0.1, n: 2 }, { le: Infinity, n: 3 }], count: 3, sum: 5.055 });
  t.deepEqual(b, { labels: { op: 'b' }, buckets: [{ le: 0.01, n: 1 }, { le: 0.1, n: 1 }, { le: Infinity, n: 1 }], count: 1, sum: 0.01 });
});

test('counters read when scraped: what the process keeps is what is served, labels from a fixed list', async (t) => {
  const r = new Registry();
  let n = 3;
  const dropped: Record<string, number> = { tag: 2 };
  counterOf(r, 'c_total', 'c', () => n);
  labelledCounterOf(r, 'd_total', 'd', 'reason', ['tag', 'magic'] as const, (k) => dropped[k] ?? 0);
  t.is(new Scrape(0, await r.metrics()).value('c_total'), 3);
  n = 10;
  const s = new Scrape(0, await r.metrics());
  t.is(s.value('c_total'), 10);
  t.is(s.value('d_total', { reason: 'tag' }), 2);
  t.is(s.value('d_total', { reason: 'magic' }), 0);
});

/** Calls a handler as fuse-native does and resolves with what it answered. */
function call(handler: (...args: any[]) => void, ...args: unknown[]): Promise<unknown[]> {
  return new Promise((resolve) => handler(...args, (...answer: unknown[]) => resolve(answer)));
}

test('the op table counts each answered request by op, its errors and the bytes read and written; stats turns two scrapes into rates', async (t) => {
  const m = new FuseOpMetrics();
  const fs = {
    getattrNow: () => null,
    getattr: async () => {
      throw new TypeError('a bug');
    },
    mkdir: async () => {
      throw new CellError('ENTRY_EXISTS', '/there exists');
    },
    readNow: (_fd: number, _b: Buffer, len: number) => (len === 4096 ? len : null),
    read: async (_fd: number, _b: Buffer, len: number) => len,
    write: async (_fd: number, _b: Buffer, len: number) => len,
    cacheStats: () => ({ hits: 0, misses: 0, bytes: 0 }),
  };
  const ops = fuseOps(fs as unknown as SwarmFs, () => undefined, m);
  const r = mountRegistry({ ops: m, cache: () => ({ hits: 7, misses: 1, bytes: 0 }), wire: newCounters });
  const before = new Scrape(0, await r.metrics());
  await call(ops.read!, '/f', 1, Buffer.alloc(4096), 4096, 0); // answered at once
  await call(ops.read!, '/f', 1, Buffer.alloc(100), 100, 0); // answered later
  await call(ops.write!, '/f', 1, Buffer.alloc(300), 300, 0);
  await call(ops.getattr!, '/missing');
  await call(ops.mkdir!, '/there', 0o755);
  const after = new Scrape(1000, await r.metrics());
  t.is(after.value('cellsync_fuse_op_seconds_count', { op: 'read' }), 2);
  t.is(after.value('cellsync_fuse_op_seconds_count', { op: 'write' }), 1);
  t.is(after.value('cellsync_fuse_op_seconds_count', { op: 'getattr' }), 1);
  t.is(after.value('cellsync_fuse_op_errors_total', { op: 'getattr' }), 1);
  t.is(after.value('cellsync_fuse_op_failures_total', { op: 'getattr' }), 1, 'a bug answers EIO: a failure');
  t.is(after.value('cellsync_fuse_op_errors_total', { op: 'mkdir' }), 1);
  t.is(after.value('cellsync_fuse_op_failures_total', { op: 'mkdir' }), 0, 'EEXIST is an answer, not a failure');
  t.is(after.value('cellsync_fuse_read_bytes_total'), 4196);
  t.is(after.value('cellsync_fuse_written_bytes_total'), 300);
  t.is(after.histogram('cellsync_fuse_op_seconds').length, FUSE_OPS.length, 'a series per op of the fixed list, used or not');
  t.is(after.histogram('cellsync_fuse_op_seconds')[0]!.buckets.length, FUSE_OP_SECONDS_BUCKETS.length + 1);
  const rates = ratesBetween(before, after) as MountRates;
  t.is(rates.kind, 'mount');
  t.is(rates.opsPerSec, 5);
  t.is(rates.readBytesPerSec, 4196);
  t.is(rates.errorsPerSec, 2);
  t.is(rates.failuresPerSec, 1);
  t.deepEqual(rates.ops.map((o) => o.op).sort(), ['getattr', 'mkdir', 'read', 'write']);
  t.is(rates.ops[0]!.op, 'read');
  const lines = formatRates('00:00:00', '127.0.0.1:1', rates);
  t.regex(lines[0]!, /mount {2}ops 5\.0\/s {2}read 4\.1K\/s {2}write 300B\/s .*errno 2\.0\/s {2}failed 1\.0\/s/);
  t.regex(lines[1]!, /^ {4}read +2\.0\/s {2}avg +[\d.]+ ms {2}p99 +[\d.]+ ms$/);
});

test('the server answers /metrics in the registry content type, 404 elsewhere, and stop() closes it with its kept-alive connections', async (t) => {
  const r = new Registry();
  counterOf(r, 'c_total', 'c', () => 1);
  const server = await MetricsServer.start({ host: '127.0.0.1', port: 0 }, r);
  t.regex(server.url, /^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
  const agent = new http.Agent({ keepAlive: true });
  const get = (p: string) =>
    new Promise<{ status: number; type: string; body: string }>((resolve, reject) => {
      http.get({ host: '127.0.0.1', port: server.address.port, path: p, agent }, (res) => {
        let body = '';
        res.on('data', (d) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode!, type: String(res.headers['content-type']), body }));
      }).on('error', reject);
    });
  const ok = await get('/metrics');
  t.is(ok.status, 200);
  t.regex(ok.type, /^text\/plain; version=0\.0\.4/);
  t.regex(ok.body, /^c_total 1$/m);
  t.is((await get('/')).status, 404);
  await server.stop();
  await t.throwsAsync(scrapeMetrics(server.address, 1_000), { message: /nothing answers there/ });
  agent.destroy();
});

test('a port already taken is a clear BAD_CONFIG, not a stack trace', async (t) => {
  const first = await MetricsServer.start({ host: '127.0.0.1', port: 0 }, new Registry());
  t.teardown(() => first.stop());
  await t.throwsAsync(MetricsServer.start(first.address, new Registry()), { message: /the port is taken by another process; choose another port/ });
});
