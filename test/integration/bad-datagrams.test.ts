import test from 'ava';
import { randomBytes } from 'node:crypto';
import dgram from 'node:dgram';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { CellStatus } from '../../src/cell/index.js';
import { connectSwarm } from '../../src/connect/index.js';
import { defaultConfig, newCellId, type CellId } from '../../src/core/index.js';
import {
  FLAG_RESPONSE,
  FRAME_OVERHEAD_BYTES,
  KeyRing,
  MessageType,
  Status,
  TimestampSource,
  decodeFrame,
  encodeFrame,
  type DropReason,
  type Frame,
} from '../../src/wire/index.js';
import { cli, eventually, swarmUp } from '../helpers/index.js';

interface SwarmFile {
  cells: { name: string; data: string; host: string; port: number }[];
}

interface StatusJson {
  cells: { id: string; addr: string; pid: number; state: string }[];
  seenBy: string;
  wire: CellStatus['wire'];
}

/** Bigger than any datagram a default cell sends, still a valid UDP payload. */
const BIG_BYTES = 62_000;

test('garbage, forged, stale and replayed datagrams are dropped and counted; one bigger than the cell sends is served; the cell keeps serving', async (t) => {
  t.true(BIG_BYTES > defaultConfig().wire.datagramBytesMax);

  const home = await swarmUp(t, 1);
  const swarm = JSON.parse(await readFile(path.join(home, 'swarm.json'), 'utf8')) as SwarmFile;
  t.is(swarm.cells.length, 1);
  const { host, port } = swarm.cells[0]!;
  t.true(port > 0);
  const addr = `${host}:${port}`;
  const swarmKey = await readFile(path.join(home, 'swarm.key'));
  const keys = new KeyRing([swarmKey]);

  const client = await connectSwarm({ swarmKey });
  t.teardown(() => client.close());
  const before = (await client.status([addr])) as CellStatus;
  const cellId = before.id;
  t.is(before.addr, addr);

  // A raw socket of our own; every answer the cell sends it is kept (decoded with the swarm key).
  const sock = dgram.createSocket('udp4');
  t.teardown(() => new Promise<void>((resolve) => sock.close(() => resolve())));
  await new Promise<void>((resolve, reject) => {
    sock.once('error', reject);
    sock.bind(0, '127.0.0.1', () => resolve());
  });
  const answers: Frame[] = [];
  const undecodable: Buffer[] = [];
  sock.on('message', (msg) => {
    const d = decodeFrame(keys, msg, 65_507);
    if (d.ok) answers.push(d.frame);
    else undecodable.push(msg);
  });
  const send = (buf: Buffer) =>
    new Promise<void>((resolve, reject) => sock.send(buf, port, host, (err) => (err ? reject(err) : resolve())));

  const stamps = new TimestampSource();
  const ping = (sender: CellId, requestId: number, body: Buffer, timestamp = stamps.next(Date.now()), ring = keys) =>
    encodeFrame(ring, { type: MessageType.PING, flags: 0, status: Status.OK, sender, requestId, timestamp, body });

  // 1. Random bytes, too short to be a frame.
  await send(randomBytes(FRAME_OVERHEAD_BYTES - 1));
  // 2. Random bytes long enough, without the magic.
  const garbage = randomBytes(300);
  garbage[0] = 0x00;
  await send(garbage);
  // 3. A valid frame cut short: its length field no longer matches.
  const whole = ping(newCellId(), 1, randomBytes(64));
  await send(whole.subarray(0, whole.length - 10));
  // 4. A valid frame with one body byte flipped: the tag no longer matches.
  const flipped = Buffer.from(ping(newCellId(), 2, randomBytes(64)));
  flipped[30] = flipped[30]! ^ 0x01;
  await send(flipped);
  // 5. A well-formed frame signed with another swarm's key.
  await send(ping(newCellId(), 3, Buffer.alloc(0), stamps.next(Date.now()), new KeyRing([randomBytes(32)])));
  // 6. A correctly signed frame whose timestamp is an hour old.
  await send(ping(newCellId(), 4, Buffer.alloc(0), new TimestampSource().next(Date.now() - 3_600_000)));
  // 7. A correctly signed frame larger than the cell itself sends: served (peers may set --datagram-bytes differently).
  const big = ping(newCellId(), 5, randomBytes(BIG_BYTES - FRAME_OVERHEAD_BYTES));
  t.is(big.length, BIG_BYTES);
  await send(big);
  // 8. A valid PING, sent twice: the first is answered, the copy is dropped as replayed.
  const sender = newCellId();
  const replayed = ping(sender, 7, Buffer.alloc(0));
  await send(replayed);
  const answer = (await eventually(() => answers.find((f) => f.requestId === 7), 5_000, 'the answer to the first PING'))!;
  t.is(answer.type, MessageType.PING);
  t.is(answer.flags & FLAG_RESPONSE, FLAG_RESPONSE);
  t.is(answer.status, Status.OK);
  t.is(answer.sender, cellId);
  await send(replayed);

  const expected: Partial<Record<DropReason, number>> = { short: 1, magic: 1, length: 1, tag: 2, stale: 1, replayed: 1 };
  const delta = (s: CellStatus) => {
    const d: Partial<Record<DropReason, number>> = {};
    for (const [reason, n] of Object.entries(s.wire.dropped) as [DropReason, number][]) {
      const diff = n - (before.wire.dropped[reason] ?? 0);
      if (diff !== 0) d[reason] = diff;
    }
    return d;
  };
  const counted = (s: CellStatus) => Object.entries(expected).every(([r, n]) => (delta(s)[r as DropReason] ?? 0) >= n);
  // Poll until every drop is counted (or 5 s pass), then compare: a miss shows as a diff by reason.
  let after = (await client.status([addr])) as CellStatus;
  await eventually(async () => counted((after = (await client.status([addr])) as CellStatus)), 5_000, 'every drop counted').catch(() => undefined);
  t.deepEqual(delta(after), expected, 'each bad datagram counted exactly once, under its reason');
  // The replayed copy was handled (counted) before that status was: an answer to it would have been sent
  // before the status answer, over loopback. One more round trip, and this loop's turn, let any such stray
  // answer reach our socket before the answers are counted.
  await client.status([addr]);
  await new Promise((r) => setImmediate(r));
  t.is(answers.filter((f) => f.requestId === 7).length, 1, 'the replayed PING was answered');
  t.deepEqual(
    answers.filter((f) => f.type !== MessageType.KEY_MISMATCH).map((f) => f.requestId).sort(),
    [5, 7],
    'only the valid PINGs got an answer',
  );
  // The two requests whose tag did not verify (4 and 5) drew one KEY_MISMATCH notice, empty: one a second per source.
  const mismatch = answers.filter((f) => f.type === MessageType.KEY_MISMATCH);
  t.is(mismatch.length, 1);
  t.like(mismatch[0], { requestId: 0, flags: 0, sender: cellId });
  t.is(mismatch[0]!.body.length, 0);
  t.deepEqual(undecodable, []);
  // Only the PING and our status requests (and any retry of them) were accepted as frames; the bad ones were not.
  const dif = (k: 'framesReceived' | 'requestsServed' | 'duplicatesSuppressed') => after.wire[k] - before.wire[k];
  t.is(dif('framesReceived'), dif('requestsServed') + dif('duplicatesSuppressed'));

  // Still serving: a fresh status round trip, and the CLI sees it alive.
  const still = (await client.status([addr])) as CellStatus;
  t.is(still.id, cellId);
  t.is(still.pid, before.pid);
  const r = await cli(['swarm', 'status', '--home', home, '--json']);
  t.is(r.code, 0, r.stderr);
  const js = JSON.parse(r.stdout) as StatusJson;
  t.is(js.seenBy, cellId);
  t.deepEqual(
    js.cells.map((c) => ({ id: c.id, addr: c.addr, state: c.state })),
    [{ id: cellId, addr, state: 'alive' }],
  );
  t.true((js.wire.dropped.replayed ?? 0) >= 1);
});
