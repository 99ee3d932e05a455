import test from 'ava';
import { CLI, cli, eventually, exited, holders, pidOf, randomFile, sh, swarmCells, swarmUp, tmpDir, watch } from '../helpers/index.js';

interface DemoReport {
  [field: string]: unknown;
  quarantines: { cell: string; atS: number; sinceInfectionS: number | null }[];
  rehabilitations: { cell: string; atS: number | null; storeScrubbedAtS: number | null; error: string | null }[];
}

test.serial('demo --json --duration 30: exit 0, no file lost, no read failed, at least one kill and one corruption healed, the infected cell quarantined and rehabilitated', async (t) => {
  const r = await cli(['demo', '--json', '--duration', '30', '--seed', '11'], { timeoutMs: 300_000 });
  t.is(r.code, 0, r.stderr + r.stdout);
  const report = JSON.parse(r.stdout.trim().split('\n').pop()!) as DemoReport;
  t.log(JSON.stringify(report));
  t.is(report.filesLost, 0);
  t.is(report.readsWrong, 0);
  t.is(report.readsFailed, 0, 'reads during kills and corruptions all succeed');
  t.is(report.filesVerified, report.filesWritten);
  t.true((report.cellsKilled as number) >= 1);
  t.true((report.corruptionsCaught as number) >= 1);
  t.not(report.timeToFullHealthS, null);
  t.true(report.ok as boolean);
  // The immune system at work: the infected cell's disk found out, the cell quarantined, then rehabilitated.
  t.is(report.cellsInfected, 1);
  t.is(report.quarantines.length, 1, 'the infected cell quarantined');
  const [q] = report.quarantines;
  t.true(q!.atS > 0 && q!.sinceInfectionS !== null && q!.sinceInfectionS > 0, 'when, and how long after its disk began failing');
  t.is(report.rehabilitations.length, 1);
  const [h] = report.rehabilitations;
  t.is(h!.cell, q!.cell);
  t.is(h!.error, null);
  t.true(h!.atS !== null && h!.atS > q!.atS, 'rehabilitated after it was quarantined');
  t.true(h!.storeScrubbedAtS !== null && h!.storeScrubbedAtS >= h!.atS!, 'its store scrubbed in the background after it served again');
  const left = await sh(`grep -c 'cellsync-dem[o]-' /proc/mounts; pgrep -fc 'cellsync-dem[o]-' || true`);
  t.deepEqual(left.stdout.trim().split('\n').map(Number), [0, 0], 'no mount or process left behind');
});

test.serial('top in plain mode shows a death and a heal when a cell is killed, and says so when no cell answers', async (t) => {
  const dir = await tmpDir(t);
  const home = await swarmUp(t, 5, ['--heartbeat-ms', '500', '--failure-timeout-ms', '2000']);
  t.is((await cli(['put', '--home', home, await randomFile(dir, 'data', 4 * 1024 * 1024)])).code, 0);
  const top = watch(t, CLI, ['top', '--home', home]);
  // Watching: its first poll prints the swarm's past events (the cells started and joined).
  await top.waitFor(/^\d\d:\d\d:\d\d\.\d{3} /m, 20_000, 'the first event line');
  // A cell that holds the chunk, so there is something to heal.
  process.kill(await pidOf((await holders(await swarmCells(home)))[0]!), 'SIGKILL');
  await top.waitFor(/member-died[^]*repair-finished|repair-finished[^]*member-died/, 20_000, 'death and heal lines');
  const out = top.out();
  t.regex(out, /^\d\d:\d\d:\d\d\.\d{3} member-died/m, 'plain, timestamped lines');
  t.notRegex(out, /\u001b\[/, 'no terminal codes when stdout is not a terminal');
  t.is((await cli(['swarm', 'down', '--home', home])).code, 0);
  await top.waitFor(/no cell answered for \d+ s: is the swarm up \(cellsync swarm status\)\? Asking 127\.0\.0\.1:\d+/, 10_000, 'top says so when no cell answers');
  top.child.kill('SIGINT');
  t.is(await exited(top.child), 0);
});

test.serial('chaos with a fixed seed does the same actions twice', async (t) => {
  const runs: string[][] = [];
  for (let i = 0; i < 2; i++) {
    const dir = await tmpDir(t);
    const home = await swarmUp(t, 4);
    // 1 MiB chunks: 8 of them, so every cell holds some and the cells chaos may corrupt are the same in both swarms.
    t.is((await cli(['put', '--home', home, '--chunk-size', '1M', await randomFile(dir, 'data', 8 * 1024 * 1024)])).code, 0);
    const r = await cli(['chaos', '--home', home, '--seed', '42', '--duration', '6', '--kill-every', '2', '--restart-after', '2', '--corrupt-every', '2'], { timeoutMs: 60_000 });
    t.is(r.code, 0, r.stderr);
    // Compare what was done to which cell; times, pids and chunk names differ between swarms.
    runs.push(r.stdout.split('\n').filter((l) => /^\+/.test(l)).map((l) => l.replace(/^\+[\d.]+s (\w+) (\S+):.*/, '$1 $2')));
  }
  t.log(runs[0]!.join('; '));
  t.true(runs[0]!.some((a) => a.startsWith('kill')) && runs[0]!.some((a) => a.startsWith('corrupt')));
  t.deepEqual(runs[0], runs[1]);
});

test.serial('the TTY dashboard renders in color under a pseudo-terminal and Ctrl-C restores the terminal', async (t) => {
  const home = await swarmUp(t, 3);
  const session = `cellsync-test-${process.pid}`;
  t.teardown(() => sh(`tmux kill-session -t ${session} 2>/dev/null || true`).then(() => undefined));
  t.is((await sh(`tmux new-session -d -s ${session} -x 120 -y 30 bash`)).code, 0);
  await sh(`tmux send-keys -t ${session} '${CLI} top --home ${home}' Enter`);
  const screen = await eventually(async () => {
    const r = await sh(`tmux capture-pane -t ${session} -p -e`);
    return /CellSync/.test(r.stdout) && /storage/.test(r.stdout) ? r.stdout : null;
  }, 10_000, 'the dashboard on screen', 200);
  t.regex(screen!, /\u001b\[3[2-6]m/, 'colors appear');
  t.is((await sh(`tmux display -p -t ${session} '#{alternate_on} #{cursor_flag}'`)).stdout.trim(), '1 0', 'full screen, cursor hidden');
  await sh(`tmux send-keys -t ${session} C-c`);
  await eventually(async () => (await sh(`tmux display -p -t ${session} '#{alternate_on} #{cursor_flag}'`)).stdout.trim() === '0 1', 5_000, 'terminal restored');
  t.pass();
});

test.serial('the TTY dashboard stamps its age and, after swarm down, says within seconds that no cell answered', async (t) => {
  const home = await swarmUp(t, 3);
  const session = `cellsync-test-down-${process.pid}`;
  t.teardown(() => sh(`tmux kill-session -t ${session} 2>/dev/null || true`).then(() => undefined));
  t.is((await sh(`tmux new-session -d -s ${session} -x 160 -y 40 bash`)).code, 0);
  await sh(`tmux send-keys -t ${session} '${CLI} top --home ${home}' Enter`);
  const pane = async () => (await sh(`tmux capture-pane -t ${session} -p`)).stdout;
  const live = await eventually(async () => {
    const s = await pane();
    return /data of \d\d:\d\d:\d\d \(\d s old\)/.test(s) && /alive/.test(s) ? s : null;
  }, 15_000, 'a live screen stamped with its age', 200);
  // Three storage cells and no guard: the screen warns that nothing scrubs.
  t.regex(live!, /warning: no guard cell alive/);
  t.regex(live!, /FREE/);
  const downAtMs = Date.now();
  t.is((await cli(['swarm', 'down', '--home', home])).code, 0);
  const down = await eventually(async () => {
    const s = await pane();
    return /no cell answered for \d+ s/.test(s) ? s : null;
  }, 5_000, 'top saying that no cell answered', 200);
  t.log(`said ${Date.now() - downAtMs} ms after swarm down returned`);
  t.notRegex(down!, /healthy|\balive\b/, 'no stale health or states on screen');
  t.regex(down!, /no answer/);
  // The count goes up while the silence lasts.
  const n = Number(/no cell answered for (\d+) s/.exec(down!)![1]);
  await eventually(async () => Number(/no cell answered for (\d+) s/.exec(await pane())?.[1] ?? -1) > n, 5_000, 'the silence counted on', 200);
  await sh(`tmux send-keys -t ${session} q`);
  await eventually(async () => (await sh(`tmux display -p -t ${session} '#{alternate_on}'`)).stdout.trim() === '0', 5_000, 'top quit on q');
});
