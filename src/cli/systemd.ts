import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** This installation's cellsync script (dist/src/cli/ is three levels below the project). */
const CELLSYNC_BIN = fileURLToPath(new URL('../../../bin/cellsync', import.meta.url));

/** How long systemd-notify may take before the cell goes on without it (ms). */
const NOTIFY_TIMEOUT_MS = 5_000;

/**
 * Tells systemd how a cell of a `Type=notify` service is doing (READY=1 once
 * it serves, STOPPING=1, STATUS=…), when systemd started it (NOTIFY_SOCKET
 * set); nothing otherwise. Node has no Unix datagram sockets, so the message
 * goes through systemd-notify, which the unit lets speak for the service
 * (NotifyAccess=all). A failure is returned as a line for the log, never thrown:
 * the cell serves all the same.
 */
export function notifySystemd(fields: Record<string, string>): Promise<string | null> {
  if (!process.env.NOTIFY_SOCKET) return Promise.resolve(null);
  const args = Object.entries(fields).map(([k, v]) => `${k}=${v}`);
  return new Promise((resolve) => {
    const child = spawn('systemd-notify', args, { stdio: ['ignore', 'ignore', 'pipe'], timeout: NOTIFY_TIMEOUT_MS });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.once('error', (err) => resolve(`systemd-notify failed: ${err.message}`));
    child.once('exit', (code) => resolve(code === 0 ? null : `systemd-notify ${args.join(' ')} exited ${code}: ${stderr.trim()}`));
  });
}

export interface UnitOptions {
  home: string;
  /** The directory holding one data directory per instance (cellsync-cell@NAME uses DATA_ROOT/NAME). */
  dataRoot: string;
  user?: string;
}

/**
 * A systemd template unit: `cellsync-cell@NAME.service` runs the cell whose
 * data directory is DATA_ROOT/NAME, in the foreground, ready once it serves
 * (Type=notify), stopped in order by SIGTERM (it leaves the swarm, which
 * then makes no copies while it is away), restarted if it fails. More
 * options per machine or per cell (--host, --port, --join…) go in
 * CELLSYNC_CELL_ARGS, set in /etc/default/cellsync or a drop-in.
 */
export function cellUnit(o: UnitOptions): string {
  const data = path.join(o.dataRoot, '%i');
  return `# CellSync cell: systemctl enable --now cellsync-cell@NAME (data in ${data})
[Unit]
Description=CellSync cell %i
After=network-online.target
Wants=network-online.target

[Service]
Type=notify
NotifyAccess=all
${o.user ? `User=${o.user}\n` : ''}EnvironmentFile=-/etc/default/cellsync
ExecStart=${CELLSYNC_BIN} cell start --home ${o.home} --data ${data} $CELLSYNC_CELL_ARGS
KillSignal=SIGTERM
# A large cell answers at once and scrubs in the background; an orderly stop takes a second or two.
TimeoutStartSec=5min
TimeoutStopSec=60
Restart=on-failure
RestartSec=2
LimitNOFILE=65536

[Install]
WantedBy=multi-user.target
`;
}
