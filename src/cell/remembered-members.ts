import { readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { MEMBERS_MAX } from '../core/index.js';
import { parseMemberInfo, type Member, type MemberInfo } from '../membership/index.js';
import { writeFileAtomic } from '../store/index.js';
import { memberInfoOf } from '../wire/index.js';

/**
 * The members a cell knew when it stopped in order, kept in its data dir
 * until its next start. A cell back before the others (a whole swarm
 * restarted, one cell at a time) then holds them 'left', expected back,
 * instead of not knowing them at all and copying their chunks onto the
 * few cells it sees.
 */
const FILE = 'members.json';

/** Writes the members worth remembering: those not dead or quarantined (a quarantined one must not count as holding anything). */
export async function rememberMembers(dataDir: string, members: Member[]): Promise<void> {
  const kept = members.filter((m) => m.state === 'alive' || m.state === 'suspect' || m.state === 'left').slice(0, MEMBERS_MAX);
  await writeFileAtomic(path.join(dataDir, FILE), JSON.stringify(kept.map(memberInfoOf)) + '\n').catch(() => undefined);
}

/**
 * Reads and removes what rememberMembers wrote: it describes the swarm at
 * that stop only (a later crash must not bring back an old list). Anything
 * malformed is skipped.
 */
export async function recallMembers(dataDir: string): Promise<MemberInfo[]> {
  const file = path.join(dataDir, FILE);
  const text = await readFile(file, 'utf8').catch(() => null);
  if (text === null) return [];
  await rm(file, { force: true });
  try {
    const list = JSON.parse(text) as unknown;
    if (!Array.isArray(list)) return [];
    return list.slice(0, MEMBERS_MAX).flatMap((v) => parseMemberInfo(v) ?? []);
  } catch {
    return [];
  }
}
