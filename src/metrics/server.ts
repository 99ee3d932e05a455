import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import { CellError } from '../core/index.js';
import { formatMetricsAddr, type MetricsAddr } from './address.js';

/** The one path served; anything else is 404 (as Prometheus' exporters do). */
export const METRICS_PATH = '/metrics';
/** Scrapers at once: Prometheus and `cellsync stats` or two; more are refused by the kernel's backlog, not queued here. */
const CONNECTIONS_MAX = 16;
/** A scraper that sends its request more slowly than this is cut off: it holds a socket of the few above. */
const REQUEST_TIMEOUT_MS = 10_000;
/** An idle kept-alive connection is closed after this: Prometheus scrapes every 15 s or so and reconnects. */
const KEEP_ALIVE_MS = 5_000;

/**
 * A cell's or a mount's metrics on HTTP (node:http): GET /metrics answers
 * the registry in Prometheus' text format, computed when asked (the
 * registry's collect callbacks read the process's own counters then).
 * Bound to one address; closed, with every connection, by stop().
 */
export class MetricsServer {
  private stopping: Promise<void> | null = null;

  private constructor(
    private readonly server: http.Server,
    /** The address it listens on, with the port the kernel chose for port 0. */
    readonly address: MetricsAddr,
  ) {}

  /** Listens on addr; a port taken or an address not on this machine is a BAD_CONFIG saying so. */
  static async start(addr: MetricsAddr, registry: Registry): Promise<MetricsServer> {
    const server = http.createServer((req, res) => void answer(registry, req, res));
    server.maxConnections = CONNECTIONS_MAX;
    server.requestTimeout = REQUEST_TIMEOUT_MS;
    server.headersTimeout = REQUEST_TIMEOUT_MS;
    server.keepAliveTimeout = KEEP_ALIVE_MS;
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err: NodeJS.ErrnoException) => reject(listenError(addr, err)));
      server.listen(addr.port, addr.host, () => resolve());
    });
    // Once listening, a socket error concerns one scraper only.
    server.on('error', () => undefined);
    const bound = server.address() as AddressInfo;
    return new MetricsServer(server, { host: addr.host, port: bound.port });
  }

  /** http://host:port/metrics */
  get url(): string {
    return `http://${formatMetricsAddr(this.address)}${METRICS_PATH}`;
  }

  /** Stops listening and closes every connection, kept-alive ones too. Idempotent. */
  stop(): Promise<void> {
    this.stopping ??= new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
    return this.stopping;
  }
}

async function answer(registry: Registry, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
  const url = req.url ?? '/';
  if (url !== METRICS_PATH && !url.startsWith(`${METRICS_PATH}?`)) {
    res.writeHead(404, { 'content-type': 'text/plain' }).end(`not found: metrics are at ${METRICS_PATH}\n`);
    return;
  }
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.writeHead(405, { allow: 'GET, HEAD' }).end();
    return;
  }
  try {
    const text = await registry.metrics();
    res.writeHead(200, { 'content-type': registry.contentType });
    res.end(req.method === 'HEAD' ? undefined : text);
  } catch (err) {
    res.writeHead(500, { 'content-type': 'text/plain' }).end(`metrics failed: ${(err as Error).message}\n`);
  }
}

function listenError(addr: MetricsAddr, err: NodeJS.ErrnoException): CellError {
  const at = formatMetricsAddr(addr);
  if (err.code === 'EADDRINUSE') return new CellError('BAD_CONFIG', `--metrics ${at}: the port is taken by another process; choose another port`);
  if (err.code === 'EADDRNOTAVAIL') return new CellError('BAD_CONFIG', `--metrics ${at}: no interface of this machine has that address`);
  if (err.code === 'EACCES') return new CellError('BAD_CONFIG', `--metrics ${at}: not allowed to listen there (ports below 1024 need root)`);
  return new CellError('BAD_CONFIG', `--metrics ${at}: ${err.message}`);
}
