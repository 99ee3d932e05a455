import http from 'node:http';
import parsePrometheusTextFormat, { type ParsedFamily, type ParsedSample } from 'parse-prometheus-text-format';
import { CellError } from '../core/index.js';
import { formatMetricsAddr, type MetricsAddr } from './address.js';
import { METRICS_PATH } from './server.js';

/** A scrape larger than this is refused: ours are tens of KiB; a bigger answer is not one of ours. */
const SCRAPE_BYTES_MAX = 4 * 1024 * 1024;

export type { ParsedSample };

/** One scrape of a metrics endpoint: when it was taken (monotonic ms) and the families, by name. */
export class Scrape {
  private readonly families: Map<string, ParsedFamily>;

  constructor(
    readonly atMs: number,
    text: string,
  ) {
    this.families = new Map(parsePrometheusTextFormat(text).map((f) => [f.name, f]));
  }

  has(name: string): boolean {
    return this.families.has(name);
  }

  /** The samples of a family ([] when absent). */
  samples(name: string): ParsedSample[] {
    return this.families.get(name)?.metrics ?? [];
  }

  /** A counter's or gauge's value, for the sample whose labels include `labels` (0 when absent). */
  value(name: string, labels: Record<string, string> = {}): number {
    const s = this.samples(name).find((m) => Object.entries(labels).every(([k, v]) => m.labels?.[k] === v));
    return s ? Number(s.value ?? s.count ?? 0) : 0;
  }
}

/**
 * GETs http://addr/metrics and parses it (parse-prometheus-text-format).
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
