import type { SwarmEvent } from '../core/index.js';
import type { SwarmSnapshot } from './collector.js';

const ESC = '\u001b[';
export const COLORS = {
  reset: `${ESC}0m`,
  bold: `${ESC}1m`,
  dim: `${ESC}2m`,
  red: `${ESC}31m`,
  green: `${ESC}32m`,
  yellow: `${ESC}33m`,
  magenta: `${ESC}35m`,
  cyan: `${ESC}36m`,
};

/** Green healing, red death, magenta corruption and quarantine, cyan differentiation, yellow suspicion. */
export function colorOfEvent(type: string): string {
  if (/died|killed/.test(type)) return COLORS.red;
  if (/suspect/.test(type)) return COLORS.yellow;
  if (/corrupt|alert|quarantined/.test(type)) return COLORS.magenta;
  if (/role/.test(type)) return COLORS.cyan;
  if (/repair|recovered|lifted|rehabilitated|surplus|joined|started|scrub/.test(type)) return COLORS.green;
  return COLORS.reset;
}

function colorOfState(state: string): string {
  return state === 'alive' ? COLORS.green : state === 'suspect' ? COLORS.yellow : state === 'dead' ? COLORS.red : state === 'left' ? COLORS.dim : COLORS.magenta;
}

function colorOfRole(role: string): string {
  return role === 'guard' ? COLORS.magenta : role === 'stem' ? COLORS.cyan : COLORS.reset;
}

export function formatBytes(n: number): string {
  const units = ['B', 'K', 'M', 'G', 'T'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return `${n.toFixed(n < 10 && i > 0 ? 1 : 0)}${units[i]}`;
}

export function formatEventLine(e: SwarmEvent, color: boolean): string {
  const time = new Date(e.atMs).toISOString().slice(11, 23);
  const text = `${time} ${e.type.padEnd(20)} ${(e.cellId ?? '').slice(0, 8).padEnd(8)} ${e.detail ?? ''}`;
  return color ? `${colorOfEvent(e.type)}${text}${COLORS.reset}` : text;
}

/** Visible length of a string with ANSI codes. */
function visible(s: string): number {
  // eslint-disable-next-line no-control-regex
  return s.replace(/\u001b\[[0-9;]*m/g, '').length;
}

/** Cuts a line to the width without breaking color codes. */
function fit(line: string, width: number): string {
  if (visible(line) <= width) return line;
  let out = '';
  let n = 0;
  for (let i = 0; i < line.length && n < width - 1; ) {
    if (line[i] === '\u001b') {
      const end = line.indexOf('m', i);
      out += line.slice(i, end + 1);
      i = end + 1;
    } else {
      out += line[i++];
      n++;
    }
  }
  return out + '…' + COLORS.reset;
}

/** Addresses named in the no-answer line (it must fit a line). */
const SEEDS_SHOWN_MAX = 3;
/** Files at risk listed on the screen (the total is shown beside them). */
const AT_RISK_SHOWN_MAX = 5;
/** Rows whose counts are the member's last word, not current: shown without them. */
const STALE_STATES = new Set(['dead', 'left']);

/** What the screen is drawn from: the last snapshot any cell answered, and how things stand now. */
export interface ScreenState {
  /** The last snapshot in which a cell answered (null: none yet). */
  snapshot: SwarmSnapshot | null;
  /** Now (wall ms): the screen's ages are measured from it. */
  nowMs: number;
  /** Since when no cell has answered (wall ms), or null if the last poll had answers. */
  silentSinceMs: number | null;
  /** Where top asks (the seeds), named when no cell answers. */
  seeds: string[];
  /** Cells that answer with frames top cannot verify: another swarm's key (empty if none). */
  wrongKeyAt?: string[];
  /** The swarm's replica count R, for the warning when fewer storage cells are alive. */
  replicas: number;
}

function seconds(ms: number): string {
  return `${Math.max(0, Math.round(ms / 1000))} s`;
}

function clock(ms: number): string {
  return new Date(ms).toISOString().slice(11, 19);
}

/** "no cell answered for N s", with where top asks and what to check. */
export function noAnswerLine(st: Pick<ScreenState, 'nowMs' | 'silentSinceMs' | 'seeds' | 'wrongKeyAt'>): string {
  if (st.wrongKeyAt?.length) {
    return `no cell answered for ${seconds(st.nowMs - (st.silentSinceMs ?? st.nowMs))}: cells at ${st.wrongKeyAt.join(', ')} answer but not with this swarm's key (check --home)`;
  }
  const asked = st.seeds.length === 0 ? 'no address: swarm.json lists no cells' : st.seeds.slice(0, SEEDS_SHOWN_MAX).join(', ') + (st.seeds.length > SEEDS_SHOWN_MAX ? ` and ${st.seeds.length - SEEDS_SHOWN_MAX} more` : '');
  return `no cell answered for ${seconds(st.nowMs - (st.silentSinceMs ?? st.nowMs))}: is the swarm up (cellsync swarm status)? Asking ${asked}`;
}

/** Warnings about the swarm's shape: no guard (nothing scrubs), fewer storage cells than R (new chunks get fewer copies). */
export function swarmWarnings(members: SwarmSnapshot['members'], replicas: number): string[] {
  const alive = members.filter((m) => m.state === 'alive' || m.state === 'suspect');
  const out: string[] = [];
  if (!alive.some((m) => m.role === 'guard')) out.push('no guard cell alive: nothing scrubs the chunks, so corruption on disk goes unseen until read');
  const storage = alive.filter((m) => m.role === 'storage').length;
  if (storage < replicas) out.push(`${storage} storage cell${storage === 1 ? '' : 's'} alive, fewer than R=${replicas}: chunks cannot have all their copies`);
  return out;
}

function backlogLine(s: SwarmSnapshot): string | null {
  const b = s.backlog;
  if (!b || (b.chunks === 0 && s.repairBytesPerSec === 0)) return null;
  if (b.chunks === 0) return `${COLORS.green}repair backlog 0 chunks${COLORS.reset}  repair ${formatBytes(s.repairBytesPerSec)}/s`;
  const eta = b.etaS === null ? 'no estimate yet (not shrinking)' : `~${seconds(b.etaS * 1000)} left`;
  return `${COLORS.yellow}repair backlog ${b.chunks} chunks${COLORS.reset} (${Math.round(b.done * 100)}% of ${b.peak} done)  ${b.chunksPerSec.toFixed(1)} chunks/s  ${formatBytes(s.repairBytesPerSec)}/s  ${eta}`;
}

function atRiskLines(s: SwarmSnapshot): string[] {
  const h = s.health;
  if (!h || h.atRiskFiles === 0) return [];
  const lines = [`${COLORS.yellow}files at risk ${h.atRiskFiles}${COLORS.reset}${h.atRiskFiles > AT_RISK_SHOWN_MAX ? ` (first ${AT_RISK_SHOWN_MAX})` : ''}`];
  for (const f of h.atRisk.slice(0, AT_RISK_SHOWN_MAX)) {
    const name = f.path ?? (f.put ? `put ${f.put.slice(0, 16)}` : `ino ${f.ino}`);
    const lost = f.chunks.filter((c) => c.copies === 0).length;
    const short = f.chunks.filter((c) => c.copies > 0).map((c) => `${c.copies}/${c.target}`);
    lines.push(`  ${lost ? COLORS.red : ''}${name}${COLORS.reset}  ${lost ? `${lost} chunk${lost === 1 ? '' : 's'} with no live copy  ` : ''}${short.length ? `copies ${short.slice(0, 4).join(' ')}${short.length > 4 ? ' …' : ''}` : ''}`);
  }
  return lines;
}

/** Client addresses shown on the clients line; the rest are counted. */
const CLIENTS_SHOWN_MAX = 8;

/** The clients the cells see watching their member views (mounts, top itself, other tools), each once. */
function clientsLine(s: SwarmSnapshot): string | null {
  const clients = new Set<string>();
  for (const r of s.reports.values()) for (const a of r.clients ?? []) clients.add(a);
  if (clients.size === 0) return null;
  const shown = [...clients].sort();
  return `clients ${clients.size}: ${shown.slice(0, CLIENTS_SHOWN_MAX).join('  ')}${shown.length > CLIENTS_SHOWN_MAX ? '  …' : ''}`;
}

/** One full screen of the dashboard, fitted to width x height. */
export function renderScreen(st: ScreenState, events: SwarmEvent[], width: number, height: number, title: string): string {
  const lines: string[] = [];
  const s = st.snapshot;
  const silent = st.silentSinceMs !== null;
  const age = s ? st.nowMs - s.atMs : 0;
  const stamp = s ? `data of ${clock(s.atMs)} (${seconds(age)} old)` : 'no data yet';
  const storage = s ? s.members.filter((m) => m.role === 'storage' && m.state === 'alive') : [];
  lines.push(`${COLORS.bold}CellSync${COLORS.reset} ${title}  ${clock(st.nowMs)}  ${silent ? COLORS.red : ''}${stamp}${COLORS.reset}` + (s && !silent ? `  cells ${s.members.length} (${storage.length} storage alive)  repair ${formatBytes(s.repairBytesPerSec)}/s` : ''));
  if (silent) lines.push(`${COLORS.red}${noAnswerLine(st)}${COLORS.reset}`);
  if (s && !silent) {
    const h = s.health;
    lines.push(
      h
        ? `files ${h.files}  chunks ${h.chunks}  ${COLORS.green}healthy ${h.healthy}${COLORS.reset}  ${h.underReplicated ? COLORS.yellow : ''}under-replicated ${h.underReplicated}${COLORS.reset}  ${h.missing ? COLORS.red : ''}missing ${h.missing}${COLORS.reset}  over ${h.overReplicated}  ${COLORS.dim}(checked ${seconds(st.nowMs - s.healthAtMs)} ago)${COLORS.reset}`
        : 'health: measuring...',
    );
    for (const w of swarmWarnings(s.members, st.replicas)) lines.push(`${COLORS.red}warning: ${w}${COLORS.reset}`);
    const clients = clientsLine(s);
    if (clients) lines.push(clients);
    const backlog = backlogLine(s);
    if (backlog) lines.push(backlog);
    lines.push(...atRiskLines(s));
    // What healing is doing, or why a repair waits, on each cell that says (a repair never waits unexplained).
    for (const r of s.reports.values()) if (r.heal.activity) lines.push(`${COLORS.green}heal ${r.id.slice(0, 8)}${COLORS.reset} ${r.heal.activity}`);
  }
  lines.push('');
  lines.push(`${COLORS.dim}${'ID'.padEnd(17)}${'ADDRESS'.padEnd(22)}${'ROLE'.padEnd(9)}${'STATE'.padEnd(13)}${'CHUNKS'.padStart(7)}${'BYTES'.padStart(9)}${'FREE'.padStart(9)}${'HEARD'.padStart(8)}  SCRUB   REPAIRED${COLORS.reset}`);
  for (const m of s?.members ?? []) {
    const r = s!.reports.get(m.id);
    const role = m.intent ? `${m.role}>${m.intent}` : m.role;
    const head = `${m.id.padEnd(17)}${m.addr.padEnd(22)}${colorOfRole(m.role)}${role.padEnd(9)}${COLORS.reset}`;
    // With no answer at all, every row is old news: no state or counts are claimed.
    if (silent) {
      lines.push(`${COLORS.dim}${head}${'no answer'.padEnd(13)}${COLORS.reset}`);
      continue;
    }
    const heard = `${(m.lastHeardMs / 1000).toFixed(1)}s`.padStart(8);
    // A dead (or stopped) cell's counts are its last word, not what it holds now.
    if (STALE_STATES.has(m.state)) {
      lines.push(`${head}${colorOfState(m.state)}${m.state.padEnd(13)}${COLORS.reset}${''.padStart(25)}${heard}`);
      continue;
    }
    const scrub = r && m.role === 'guard' ? `${Math.round(r.immune.passProgress * 100)}%`.padEnd(8) : ''.padEnd(8);
    const repaired = r ? String(r.heal.pushed) : '';
    const free = m.capacityBytes > 0 ? formatBytes(Math.max(0, m.capacityBytes - m.bytes)) : '';
    lines.push(
      `${head}${colorOfState(m.state)}${m.state.padEnd(13)}${COLORS.reset}` +
        `${String(m.chunks).padStart(7)}${formatBytes(m.bytes).padStart(9)}${free.padStart(9)}${heard}  ${scrub}${repaired}`,
    );
  }
  lines.push('');
  lines.push(`${COLORS.dim}events${COLORS.reset}`);
  const room = Math.max(1, height - lines.length - 1);
  for (const e of events.slice(-room)) lines.push(formatEventLine(e, true));
  return lines
    .slice(0, height - 1)
    .map((l) => fit(l, width))
    .join('\n');
}
