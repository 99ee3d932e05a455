import http from 'node:http';
import { CellError } from '../core/index.js';
import { formatMetricsAddr, type MetricsAddr } from './address.js';
import { METRICS_PATH } from './server.js';
import { parseTextFormat, type TextSample } from './text-format.js';

/** A scrape larger than this is refused: ours are tens of KiB; a bigger answer is not one of ours. */
const SCRAPE_BYTES_MAX = 4 * 1024 * 1024;

/** One series of a histogram: its labels (le aside), its cumulative buckets by upper bound, count and sum. */
export interface HistogramSeries {
  labels: Record<string, string>;
  buckets: { le: number; n: number }[];
  count: number;
  sum: number;
}

/** One scrape of a metrics endpoint: when it was taken (monotonic ms) and its samples, by name. */
export class Scrape {
  private readonly byName = new Map<string, TextSample[]>();

  constructor(
    readonly atMs: number,
    text: string,
  ) {
    for (const s of parseTextFormat(text)) {
      const list = this.byName.get(s.name);
      if (list) list.push(s);
      else this.byName.set(s.name, [s]);
    }
  }

  /** True when the scrape has samples of this name (a histogram's: of name_count). */
  has(name: string): boolean {
    return this.byName.has(name) || this.byName.has(`${name}_count`);
  }

  /** The samples of a counter or gauge ([] when absent). */
  samples(name: string): TextSample[] {
    return this.byName.get(name) ?? [];
  }

  /** A counter's or gauge's value, for the first sample whose labels include `labels` (0 when absent). */
  value(name: string, labels: Record<string, string> = {}): number {
    return this.samples(name).find((s) => matches(s.labels, labels))?.value ?? 0;
  }

  /** A histogram's series, one per label set. */
  histogram(name: string): HistogramSeries[] {
    const series = new Map<string, HistogramSeries>();
    const of = (labels: Record<string, string>) => {
      const { le: _le, ...rest } = labels;
      const key = JSON.stringify(Object.entries(rest).sort());
      let h = series.get(key);
      if (!h) series.set(key, (h = { labels: rest, buckets: [], count: 0, sum: 0 }));
      return h;
    };
    for (const s of this.samples(`${name}_bucket`)) of(s.labels).buckets.push({ le: Number(s.labels.le === '+Inf' ? Infinity : s.labels.le), n: s.value });
    for (const s of this.samples(`${name}_count`)) of(s.labels).count = s.value;
    for (const s of this.samples(`${name}_sum`)) of(s.labels).sum = s.value;
    return [...series.values()];
  }
}

function matches(have: Record<string, string>, want: Record<string, string>): boolean {
  for (const k in want) if (have[k] !== want[k]) return false;
  return true;
}

/**
 * GETs http://addr/metrics and parses it (text-format.ts).
 * Nothing listening, no answer in time, or an answer that is not metrics:
 * a CellError saying so, naming the address.
 */
export function scrapeMetrics(addr: MetricsAddr, timeoutMs: number): Promise<Scrape> {
  const at = formatMetricsAddr(addr);
  return new Promise((resolve, reject) => {
    const fail = (why: string) => reject(new CellError('NO_CELL_REACHABLE', `${at}: ${why}`));
    // agent: false: one connection per scrape, closed after it (nothing kept alive holds a --once run open).
    const req = http.get({ host: addr.host, port: addr.port, path: METRICS_PATH, agent: false, timeout: timeoutMs }, (res) => {
      if (res.statusCode !== 200) {
        res.resume();
        fail(`answered HTTP ${res.statusCode} for ${METRICS_PATH}: not a CellSync metrics endpoint`);
        return;
      }
      const parts: Buffer[] = [];
      let bytes = 0;
      res.on('data', (d: Buffer) => {
        bytes += d.length;
        if (bytes > SCRAPE_BYTES_MAX) {
          req.destroy();
          fail(`answered more than ${SCRAPE_BYTES_MAX} bytes: not a CellSync metrics endpoint`);
        } else parts.push(d);
      });
      res.on('end', () => {
        try {
          resolve(new Scrape(performance.now(), Buffer.concat(parts).toString('utf8')));
        } catch (err) {
          fail(`answered something that is not Prometheus' text format (${(err as Error).message})`);
        }
      });
      res.on('error', (err) => fail(err.message));
    });
    req.on('timeout', () => {
      req.destroy();
      fail(`no answer within ${timeoutMs / 1000} s`);
    });
    req.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'ECONNREFUSED') fail('nothing answers there (is a cell or a mount running with --metrics at that address?)');
      else fail(err.message);
    });
  });
}
