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

/** One full screen of the dashboard, fitted to width x height. */
export function renderScreen(s: SwarmSnapshot, events: SwarmEvent[], width: number, height: number, title: string): string {
  const lines: string[] = [];
  const h = s.health;
  const storage = s.members.filter((m) => m.role === 'storage' && m.state === 'alive');
  const totals = h
    ? `files ${h.files}  chunks ${h.chunks}  ${COLORS.green}healthy ${h.healthy}${COLORS.reset}  ${h.underReplicated ? COLORS.yellow : ''}under-replicated ${h.underReplicated}${COLORS.reset}  ${h.missing ? COLORS.red : ''}missing ${h.missing}${COLORS.reset}  over ${h.overReplicated}`
    : 'health: measuring...';
  lines.push(`${COLORS.bold}CellSync${COLORS.reset} ${title}  ${new Date(s.atMs).toISOString().slice(11, 19)}  cells ${s.members.length} (${storage.length} storage alive)  repair ${formatBytes(s.repairBytesPerSec)}/s`);
  lines.push(totals);
  // What healing is doing, or why a repair waits, on each cell that says (a repair never waits unexplained).
  for (const r of s.reports.values()) if (r.heal.activity) lines.push(`${COLORS.green}heal ${r.id.slice(0, 8)}${COLORS.reset} ${r.heal.activity}`);
  lines.push('');
  lines.push(`${COLORS.dim}${'ID'.padEnd(17)}${'ADDRESS'.padEnd(22)}${'ROLE'.padEnd(9)}${'STATE'.padEnd(13)}${'CHUNKS'.padStart(7)}${'BYTES'.padStart(9)}${'HEARD'.padStart(8)}  SCRUB   REPAIRED${COLORS.reset}`);
  for (const m of s.members) {
    const r = s.reports.get(m.id);
    const scrub = r && m.role === 'guard' ? `${Math.round(r.immune.passProgress * 100)}%`.padEnd(8) : ''.padEnd(8);
    const repaired = r ? String(r.heal.pushed) : '';
    const role = m.intent ? `${m.role}>${m.intent}` : m.role;
    lines.push(
      `${m.id.padEnd(17)}${m.addr.padEnd(22)}${colorOfRole(m.role)}${role.padEnd(9)}${COLORS.reset}${colorOfState(m.state)}${m.state.padEnd(13)}${COLORS.reset}` +
        `${String(m.chunks).padStart(7)}${formatBytes(m.bytes).padStart(9)}${`${(m.lastHeardMs / 1000).toFixed(1)}s`.padStart(8)}  ${scrub}${repaired}`,
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
