import test from 'ava';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { connectSwarm } from '../../src/connect/index.js';
import type { Addr } from '../../src/core/index.js';
import { Messages, type ListedMember } from '../../src/wire/index.js';
import { cli, eventually, pidOf, swarmCells, swarmUp, type SwarmCellEntry } from '../helpers/index.js';

/**
 * The default detector with real cell processes on loopback: 20 cells, each
 * asked for its own view. A SIGKILLed cell is dead in every view; a
 * SIGSTOPped one is suspected, and alive again everywhere after SIGCONT by
 * refuting at a higher incarnation; a cell restarted at its address is alive
 * again. Timings are the benchmark's (bench:membership); here only the states.
 */
const CELLS = 20;

test.serial('20 cells on loopback: a SIGKILLed cell dead everywhere, a SIGSTOPped one suspected then refuted, a restart at the same address alive again', async (t) => {
  const home = await swarmUp(t, CELLS);
  const cells = await swarmCells(home);
  const idOf = async (c: SwarmCellEntry) => (JSON.parse(await readFile(path.join(c.data, 'identity.json'), 'utf8')) as { id: string }).id;
  const client = await connectSwarm({ swarmKey: await readFile(path.join(home, 'swarm.key')) });
  t.teardown(() => client.close());
  const addrOf = (c: SwarmCellEntry): Addr => `${c.host}:${c.port}`;
  /** Each listed cell's view of `id` (null: that cell did not answer). */
  const viewsOf = (of: SwarmCellEntry[], id: string) =>
    Promise.all(
      of.map(async (c) => {
        const members = await client.endpoint.call(addrOf(c), Messages.MEMBERS, undefined, { timeoutMs: 1_000 }).catch(() => null);
        return members ? (members.find((m) => m.id === id) ?? null) : null;
      }),
    );
  const everyView = async (of: SwarmCellEntry[], id: string, ok: (m: ListedMember) => boolean) => (await viewsOf(of, id)).every((m) => m !== null && ok(m));

  const ids = await Promise.all(cells.map(idOf));
  await eventually(async () => {
    for (const id of ids) if (!(await everyView(cells, id, (m) => m.state === 'alive'))) return false;
    return true;
  }, 30_000, `all ${CELLS} cells alive in every view`, 200);

  // SIGKILL: dead in every survivor's view.
  const [victim, hung] = [cells[3]!, cells[11]!];
  const [victimId, hungId] = [ids[3]!, ids[11]!];
  const survivors = cells.filter((c) => c !== victim && c !== hung);
  process.kill(await pidOf(victim), 'SIGKILL');
  await eventually(() => everyView(survivors, victimId, (m) => m.state === 'dead'), 20_000, 'the killed cell dead in every view', 100);
  t.pass('SIGKILLed cell dead in every view');

  // SIGSTOP: suspected (or already dead) somewhere; after SIGCONT alive everywhere, at a higher incarnation.
  const hungPid = await pidOf(hung);
  const before = (await viewsOf(survivors, hungId))[0]!.incarnation;
  process.kill(hungPid, 'SIGSTOP');
  t.teardown(() => {
    try {
      process.kill(hungPid, 'SIGCONT');
    } catch {
      // already gone
    }
  });
  await eventually(async () => (await viewsOf(survivors, hungId)).some((m) => m !== null && m.state !== 'alive'), 20_000, 'the stopped cell suspected', 100);
  process.kill(hungPid, 'SIGCONT');
  await eventually(() => everyView(survivors, hungId, (m) => m.state === 'alive' && m.incarnation > before), 20_000, 'the continued cell alive again by refutation', 100);
  t.pass('SIGSTOPped cell suspected, then alive everywhere at a higher incarnation');

  // Restarted at the same address with the same data: alive again everywhere.
  const restart = await cli(['cell', 'start', '--home', home, '--data', victim.data, '--port', String(victim.port), '--daemon']);
  t.is(restart.code, 0, restart.stderr);
  await eventually(() => everyView(survivors, victimId, (m) => m.state === 'alive'), 20_000, 'the restarted cell alive in every view', 100);
  t.pass('restarted cell alive in every view');
});
