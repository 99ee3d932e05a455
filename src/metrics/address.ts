import net from 'node:net';

/** Where a cell's or a mount's metrics are served: an IP address and a TCP port (0: any free port). */
export interface MetricsAddr {
  host: string;
  port: number;
}

/** Prometheus' own port registry gives 9464 to exporters of this kind; the README's examples use it. */
export const METRICS_PORT_EXAMPLE = 9464;

/** Why an address given to --metrics was refused: said to the user as it is, with what to give instead. */
export class MetricsAddrError extends Error {
  override name = 'MetricsAddrError';
}

/**
 * Parses `--metrics` (`127.0.0.1:9464`, `[::1]:9464`, or a port alone for
 * 127.0.0.1). Metrics say how busy and how healthy a cell is, to anyone who
 * asks, without a key: by default only a loopback address is taken, and
 * another needs `allowRemote` (`--metrics-allow-remote`), so that exposing
 * them is a choice the user made. A host name is refused (an IP says which
 * interface is meant; a name may resolve to several).
 */
export function parseMetricsAddr(v: string, opts: { allowRemote?: boolean } = {}): MetricsAddr {
  const text = v.trim();
  const [host, portText] = splitHostPort(text);
  const port = /^\d{1,5}$/.test(portText) ? Number(portText) : NaN;
  if (!(port <= 65_535)) {
    throw new MetricsAddrError(`"${v}" is not an address: expected IP:PORT, e.g. 127.0.0.1:${METRICS_PORT_EXAMPLE} (or [::1]:${METRICS_PORT_EXAMPLE}, or a port alone for 127.0.0.1)`);
  }
  if (net.isIP(host) === 0) throw new MetricsAddrError(`"${host}" is not an IP address: give the address to listen on, e.g. 127.0.0.1:${port}`);
  if (!isLoopback(host) && !opts.allowRemote) {
    throw new MetricsAddrError(
      `${host} is not a loopback address: metrics there would be readable by anyone who reaches this machine, without the swarm key. ` +
        `Serve them on 127.0.0.1 (and scrape through a tunnel or a local agent), or add --metrics-allow-remote to mean it`,
    );
  }
  return { host, port };
}

/** "9464" -> 127.0.0.1 and 9464; "[::1]:9464" and "127.0.0.1:9464" -> host and port text (checked by the caller). */
function splitHostPort(text: string): [string, string] {
  if (/^\d+$/.test(text)) return ['127.0.0.1', text];
  const bracketed = /^\[([^\]]*)\]:(.*)$/.exec(text);
  if (bracketed) return [bracketed[1]!, bracketed[2]!];
  const i = text.lastIndexOf(':');
  return i > 0 ? [text.slice(0, i), text.slice(i + 1)] : [text, ''];
}

/** 127.0.0.0/8 and ::1 (also as ::ffff:127.x.y.z): reachable from this machine only. */
export function isLoopback(host: string): boolean {
  const v4 = host.startsWith('::ffff:') ? host.slice(7) : host;
  if (net.isIPv4(v4)) return v4.startsWith('127.');
  return host === '::1' || host === '0:0:0:0:0:0:0:1';
}

/** host:port as a URL authority ([::1]:9464 for IPv6). */
export function formatMetricsAddr(a: MetricsAddr): string {
  return net.isIPv6(a.host) ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`;
}
