import { Option, type Command } from 'commander';
import { CellError } from '../../core/index.js';
import { formatRates, ratesBetween } from '../../dashboard/index.js';
import { MetricsAddrError, formatMetricsAddr, parseMetricsAddr, scrapeMetrics, type MetricsAddr, type Scrape } from '../../metrics/index.js';
import { usage } from '../errors.js';
import { parseDuration, parseIntArg } from '../options.js';

interface StatsOptions {
  metrics: string[];
  interval: number;
  once?: boolean;
  count?: number;
  json?: boolean;
}

/** A scrape that takes longer than this counts as no answer: the endpoints are on this machine or near it, and answer in milliseconds. */
const SCRAPE_TIMEOUT_MS = 2_000;
/** Shortest interval between screens: rates over less are mostly noise. */
const INTERVAL_MIN_MS = 100;

export function registerStats(program: Command): void {
  program
    .command('stats')
    .description("live per-second view of cells' and mounts' metrics endpoints (--metrics of cell start, swarm up, mount): ops/s, bytes/s and latency by FUSE op; wire, repair and scrub rates")
    .addOption(
      new Option('--metrics <addr>', 'an endpoint to read, IP:PORT as given to --metrics (repeat it, or separate by commas, for several)')
        .argParser((v: string, prev: string[] = []) => [...prev, ...v.split(',').map((s) => s.trim()).filter(Boolean)])
        .makeOptionMandatory(),
    )
    .addOption(new Option('--interval <duration>', 'time between lines').argParser(parseDuration).default(1_000, '1s'))
    .option('--once', 'print one interval and exit (for scripts)')
    .addOption(new Option('--count <n>', 'print this many intervals and exit').argParser(parseIntArg(1, 1_000_000)))
    .option('--json', 'one JSON object per endpoint and interval: {"time","addr",...the figures}')
    .action(async (opts: StatsOptions) => {
      if (opts.interval < INTERVAL_MIN_MS) usage(`--interval: at least ${INTERVAL_MIN_MS} ms`);
      const addrs = opts.metrics.map((a) => {
        try {
          // Reading is not serving: any address may be scraped.
          return parseMetricsAddr(a, { allowRemote: true });
        } catch (err) {
          if (err instanceof MetricsAddrError) usage(`--metrics: ${err.message}`);
          throw err;
        }
      });
      await runStats(addrs, { ...opts, count: opts.once ? 1 : opts.count });
    });
}

/** Scrapes every endpoint each interval and prints the figures between one scrape and the next; stops at count intervals or on SIGINT/SIGTERM. */
async function runStats(addrs: MetricsAddr[], opts: { interval: number; count?: number; json?: boolean }): Promise<void> {
  const names = addrs.map(formatMetricsAddr);
  const scrapeAll = () => Promise.allSettled(addrs.map((a) => scrapeMetrics(a, Math.min(SCRAPE_TIMEOUT_MS, opts.interval))));
  const first = await scrapeAll();
  if (first.every((r) => r.status === 'rejected')) {
    throw new CellError('NO_CELL_REACHABLE', `no metrics endpoint answered: ${first.map((r) => ((r as PromiseRejectedResult).reason as Error).message).join('; ')}`);
  }
  const prev: (Scrape | null)[] = first.map((r) => (r.status === 'fulfilled' ? r.value : null));
  for (const r of first) if (r.status === 'rejected') console.error(`cellsync: ${(r.reason as Error).message}`);
  const stop = new AbortController();
  const onSignal = () => stop.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    const startedMs = performance.now();
    for (let n = 1; opts.count === undefined || n <= opts.count; n++) {
      // A fixed cadence: the time a scrape takes does not push the next one later.
      if (!(await sleep(startedMs + n * opts.interval - performance.now(), stop.signal))) return;
      const results = await scrapeAll();
      const stamp = new Date().toTimeString().slice(0, 8);
      results.forEach((r, i) => {
        if (r.status === 'rejected') {
          if (opts.json) console.log(JSON.stringify({ time: new Date().toISOString(), addr: names[i], error: (r.reason as Error).message }));
          else console.log(`${stamp} ${names[i]} no answer: ${(r.reason as Error).message.replace(`${names[i]}: `, '')}`);
          return;
        }
        const before = prev[i];
        prev[i] = r.value;
        if (!before) return;
        const rates = ratesBetween(before, r.value);
        if (opts.json) console.log(JSON.stringify({ time: new Date().toISOString(), addr: names[i], ...rates }));
        else for (const line of formatRates(stamp, names[i]!, rates)) console.log(line);
      });
    }
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

/** Waits ms (at once if <= 0); false when aborted first. */
function sleep(ms: number, signal: AbortSignal): Promise<boolean> {
  if (signal.aborted) return Promise.resolve(false);
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve(true);
    }, Math.max(0, ms));
    const onAbort = () => {
      clearTimeout(timer);
      resolve(false);
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
