import { Option } from 'commander';
import os from 'node:os';
import { METRICS_PORT_EXAMPLE, MetricsAddrError, formatMetricsAddr, isLoopback, parseMetricsAddr, type MetricsAddr } from '../metrics/index.js';
import { usage } from './errors.js';

export interface MetricsOptions {
  metrics?: string;
  metricsAllowRemote?: boolean;
}

/** --metrics, for the commands that start cells or a mount; `whose`: "the cell's", "the mount's". */
export function metricsOption(whose: string): Option {
  return new Option(
    '--metrics <addr>',
    `serve ${whose} Prometheus metrics over HTTP at addr (IP:PORT, e.g. 127.0.0.1:${METRICS_PORT_EXAMPLE}; port 0 = any free port), at /metrics; off by default`,
  );
}

/** --metrics-allow-remote, beside --metrics. */
export function metricsAllowRemoteOption(): Option {
  return new Option('--metrics-allow-remote', '--metrics may be a non-loopback address (anyone who reaches it reads the metrics, no key needed)');
}

/** The address --metrics gave, checked (wrong use exits 2 with what to give instead), or undefined when not given. */
export function metricsAddrFrom(o: MetricsOptions): MetricsAddr | undefined {
  if (o.metrics === undefined) return undefined;
  let addr: MetricsAddr;
  try {
    addr = parseMetricsAddr(o.metrics, { allowRemote: o.metricsAllowRemote });
  } catch (err) {
    if (err instanceof MetricsAddrError) usage(`--metrics: ${err.message}`);
    throw err;
  }
  if (!isLoopback(addr.host) && !isWildcard(addr.host) && !ownAddresses().has(addr.host)) {
    usage(`--metrics: ${addr.host} is not an address of this machine (${[...ownAddresses()].join(', ')})`);
  }
  return addr;
}

/** 0.0.0.0 and ::, every interface. */
function isWildcard(host: string): boolean {
  return host === '0.0.0.0' || host === '::';
}

function ownAddresses(): Set<string> {
  return new Set(Object.values(os.networkInterfaces()).flatMap((list) => (list ?? []).map((i) => i.address)));
}

/** The same options as arguments, for a daemon child; `offset` is added to the port (cell i of swarm up), unless it is 0. */
export function metricsArgs(o: MetricsOptions, offset = 0): string[] {
  const addr = metricsAddrFrom(o);
  if (!addr) return [];
  const port = addr.port === 0 ? 0 : addr.port + offset;
  if (port > 65_535) usage(`--metrics: port ${addr.port} + ${offset} is past 65535: choose a lower port`);
  const at = formatMetricsAddr({ host: addr.host, port });
  return ['--metrics', at, ...(o.metricsAllowRemote ? ['--metrics-allow-remote'] : [])];
}
