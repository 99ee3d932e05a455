import test from 'ava';
import { CellError, systemClock, type Addr } from '../../../src/core/index.js';
import { RecordsClient, type MemberView, type SwarmClient } from '../../../src/client/index.js';
import { isCellError } from '../../../src/core/index.js';
import { direntKey, placementKeyOf, type RecordEnvelope } from '../../../src/namespace/index.js';
import { MessageType, encodeWhole, type RequestSpec } from '../../../src/wire/index.js';

/**
 * Three home cells in placement order, each with its own records, answering
 * REC_GET and REC_SCAN like a cell; `changedRecently` says whether the set of
 * storage cells just changed in the client's view.
 */
function fakeSwarm(held: RecordEnvelope[][], changedRecently: boolean, shunning = false, here: boolean[] = [], down: boolean[] = []) {
  const asked: Addr[] = [];
  const puts: Addr[] = [];
  const undos: Addr[] = [];
  /** Cells whose database was read on this machine, in order. */
  const readsHere: Addr[] = [];
  /** Every write, in the order it happened: "net <addr>" or "here <addr>". */
  const writes: string[] = [];
  const cells = held.map((records, i) => ({ addr: `127.0.0.1:${7001 + i}` as Addr, records }));
  const request = async (addr: Addr, type: MessageType, body: Buffer) => {
    asked.push(addr);
    const i = cells.findIndex((c) => c.addr === addr);
    if (down[i]) throw new CellError('TIMEOUT', `${addr} does not answer`);
    const { records } = cells[i]!;
    const q = JSON.parse(body.toString());
    if (type === MessageType.REC_GET) return Buffer.from(JSON.stringify((q as string[]).map((k) => records.find((r) => r.k === k) ?? null)));
    if (type === MessageType.REC_SCAN) return Buffer.from(JSON.stringify(records.filter((r) => r.k.startsWith(q.prefix))));
    if (type === MessageType.REC_PUT || type === MessageType.REC_WRITE) {
      puts.push(addr);
      writes.push(`net ${addr}`);
      records.push(...(q as RecordEnvelope[]));
      return Buffer.alloc(0);
    }
    if (type === MessageType.REC_UNDO) {
      undos.push(addr);
      cells[i]!.records = records.filter((r) => !(q as { k: string; v: string }[]).some((u) => u.k === r.k && u.v === r.v));
      return Buffer.alloc(0);
    }
    throw new Error(`unexpected message ${type}`);
  };
  const swarm = {
    placementFor: async () => cells.map((c) => ({ addr: c.addr, id: c.addr, role: 'storage', state: 'alive' }) as unknown as MemberView),
    storageChangedWithin: () => changedRecently,
    shunsAny: () => shunning,
    isShunned: () => false,
    noteFailure: () => undefined,
    noteAnswered: () => undefined,
    clock: systemClock,
    // Cells "on this machine" (here[i]) take records straight into their records; "here" but down: their database cannot be written.
    recordsHere: (m: MemberView) => !!here[cells.findIndex((c) => c.addr === m.addr)],
    mergeRecordsHere: (m: MemberView, recs: RecordEnvelope[]) => {
      const i = cells.findIndex((c) => c.addr === m.addr);
      if (!here[i] || down[i]) return null;
      writes.push(`here ${m.addr}`);
      cells[i]!.records.push(...recs);
      return recs.map((r) => ({ k: r.k, v: r.v, prev: null }));
    },
    // Read here as the cell answers REC_GET and REC_SCAN; "here" but down: the database cannot be read.
    readRecordsHere: (m: MemberView, keys: string[]) => {
      const i = cells.findIndex((c) => c.addr === m.addr);
      if (!here[i] || down[i]) return null;
      readsHere.push(m.addr);
      return keys.map((k) => cells[i]!.records.find((r) => r.k === k) ?? null);
    },
    scanRecordsHere: (m: MemberView, prefix: string) => {
      const i = cells.findIndex((c) => c.addr === m.addr);
      if (!here[i] || down[i]) return null;
      readsHere.push(m.addr);
      return cells[i]!.records.filter((r) => r.k.startsWith(prefix));
    },
    restoreRecordsHere: (m: MemberView, undone: { k: string; v: string }[]) => {
      const c = cells.find((x) => x.addr === m.addr)!;
      c.records = c.records.filter((r) => !undone.some((u) => u.k === r.k && u.v === r.v));
      return true;
    },
    endpoint: {
      request,
      // As Endpoint.call: the request through its spec's encoder, the answer through its decoder.
      call: async <Q, A>(addr: Addr, spec: RequestSpec<Q, A>, req: Q) => {
        const answer = spec.response.decode(await request(addr, spec.type, encodeWhole(spec.request, req)), req);
        if (answer === null) throw new Error(`malformed ${MessageType[spec.type]} answer`);
        return answer;
      },
    },
  };
  return { client: new RecordsClient(swarm as unknown as SwarmClient, 3), asked, puts, undos, writes, cells, readsHere };
}

const DIR = 'abcdef0012345678abcdef00';
const entry: RecordEnvelope = { k: direntKey(DIR, 'report.txt'), v: '0000000000a1.000000.0c', d: { ino: 'abcdef00aaaaaaaabbbbbbbb', type: 'file' } };

test('right after the storage cells changed, a record the two new homes lack is found on the third home (get and scan)', async (t) => {
  const { client } = fakeSwarm([[], [], [entry]], true);
  t.deepEqual(await client.get(entry.k), entry);
  t.deepEqual(await client.scan(`d/${DIR}/`), [entry]);
});

test('with the storage cells steady, a majority that agrees a record is absent is believed without asking the third home', async (t) => {
  const { client, asked } = fakeSwarm([[], [], [entry]], false);
  t.is(await client.get(entry.k), null);
  t.deepEqual([...new Set(asked)], ['127.0.0.1:7001', '127.0.0.1:7002']);
});

test('while cells that timed out are put last, cells that are not homes answer first: their majority saying absent is not believed', async (t) => {
  // The first two in order stand in for two homes that timed out moments ago; the third is the live home.
  const { client } = fakeSwarm([[], [], [entry]], false, true);
  t.deepEqual(await client.get(entry.k), entry);
  t.deepEqual(await client.scan(`d/${DIR}/`), [entry]);
});

test('the newest version among the answers wins', async (t) => {
  const older = { ...entry, v: '0000000000a0.000000.0c', d: { ino: 'abcdef00cccccccccccccccc', type: 'file' } };
  const { client } = fakeSwarm([[older], [entry], []], false);
  t.deepEqual(await client.get(entry.k), entry);
});

test('homes on this machine are written straight into their databases, up to a majority; the others get theirs over the network', async (t) => {
  const all = fakeSwarm([[], [], []], false, false, [true, true, true]);
  await all.client.put([entry]);
  t.deepEqual(all.cells.map((c) => c.records.length), [1, 1, 0], 'a majority written at once, without a message');
  await all.client.drain();
  t.deepEqual(all.puts, ['127.0.0.1:7003'], 'the third home by the network');
  t.deepEqual(all.cells.map((c) => c.records.length), [1, 1, 1]);

  // The first home here could not be written (say its database is not ours to write): the next home here is.
  const second = fakeSwarm([[], [], []], false, false, [false, true, true]);
  await second.client.put([entry]);
  await second.client.drain();
  t.deepEqual(second.puts, ['127.0.0.1:7001']);
  t.deepEqual(second.cells.map((c) => c.records.length), [1, 1, 1]);

  // One home here: the majority is completed over the network before put returns.
  const one = fakeSwarm([[], [], []], false, false, [true, false, false]);
  await one.client.put([entry]);
  t.deepEqual(one.cells.map((c) => c.records.length), [1, 1, 0]);
  await one.client.drain();
  t.deepEqual(one.puts, ['127.0.0.1:7002', '127.0.0.1:7003']);
});

test('homes over the network are written first, homes on this machine last', async (t) => {
  const one = fakeSwarm([[], [], []], false, false, [true, false, false]);
  await one.client.put([entry]);
  t.deepEqual(one.writes, ['net 127.0.0.1:7002', 'here 127.0.0.1:7001']);
});

test('a write that cannot reach a majority writes nothing, not even into a database on this machine', async (t) => {
  // The case: one home in view, on this machine.
  const alone = fakeSwarm([[], [], []], false, false, [true, false, false]);
  const homes = (alone.client as unknown as { swarm: { placementFor: () => Promise<MemberView[]> } }).swarm;
  const all = await homes.placementFor();
  homes.placementFor = async () => all.slice(0, 1);
  const err = await t.throwsAsync(alone.client.put([entry]));
  t.true(isCellError(err, 'NOT_ENOUGH_CELLS'));
  t.deepEqual(alone.writes, []);
  t.deepEqual(alone.asked, [], 'not a message sent');

  // Three homes in view, two do not answer: the one here is never written.
  const down = fakeSwarm([[], [], []], false, false, [true, false, false], [false, true, true]);
  await t.throwsAsync(down.client.put([entry]));
  t.deepEqual(down.writes, []);
  t.deepEqual(down.cells.map((c) => c.records.length), [0, 0, 0]);
});

test('a write that reached one home of three over the network is undone there', async (t) => {
  const { client, cells, undos } = fakeSwarm([[], [], []], false, false, [], [false, true, true]);
  await t.throwsAsync(client.put([entry]));
  t.true(undos.includes('127.0.0.1:7001'), 'the home that took it is told to undo it');
  t.deepEqual(cells.map((c) => c.records.length), [0, 0, 0]);
});

test('a write across two groups that fails in one is undone in the other', async (t) => {
  const other: RecordEnvelope = { ...entry, k: direntKey('0123456789abcdef', 'b') };
  const { client, cells, undos } = fakeSwarm([[], [], []], false, false, [true, false, false], [false, false, true]);
  const swarm = (client as unknown as { swarm: { placementFor: (k: string) => Promise<MemberView[]> } }).swarm;
  const all = await swarm.placementFor('');
  // The second group's homes in view: the two cells not on this machine, one of which does not answer.
  swarm.placementFor = async (k: string) => (k === placementKeyOf(other.k) ? [all[1]!, all[2]!] : all);
  await t.throwsAsync(client.put([entry, other]));
  t.true(undos.includes('127.0.0.1:7002'));
  t.deepEqual(cells.map((c) => c.records.length), [0, 0, 0], 'nothing of either group is left');
});

test('a database on this machine written before the write fell short is restored', async (t) => {
  // Both homes here are the majority; the second's database fails, and the network cannot make up for it.
  const { client, cells, writes } = fakeSwarm([[], [], []], false, false, [true, true, false], [false, true, true]);
  await t.throwsAsync(client.put([entry]));
  t.deepEqual(writes, ['here 127.0.0.1:7001']);
  t.deepEqual(cells.map((c) => c.records.length), [0, 0, 0]);
});

test('a read whose one live home answers after the other two failed returns that answer (it hung before)', async (t) => {
  const { client } = fakeSwarm([[], [], [entry]], false, false, [], [true, true, false]);
  t.deepEqual(await client.get(entry.k), entry);
});

test('a read with a majority of homes on this machine reads their databases and sends nothing (get and scan)', async (t) => {
  const older = { ...entry, v: '0000000000a0.000000.0c', d: { ino: 'abcdef00cccccccccccccccc', type: 'file' } };
  const { client, asked, readsHere } = fakeSwarm([[older], [entry], []], false, false, [true, true, true]);
  t.deepEqual(await client.get(entry.k), entry, 'the newest of the two');
  t.deepEqual(await client.scan(direntKey(DIR, '')), [entry]);
  t.deepEqual(asked, [], 'not a message sent');
  t.deepEqual(readsHere, ['127.0.0.1:7001', '127.0.0.1:7002', '127.0.0.1:7001', '127.0.0.1:7002'], 'the first two homes, not the third');
});

test('a read with one home here asks the rest of the majority over the network, and the newest answer wins', async (t) => {
  const older = { ...entry, v: '0000000000a0.000000.0c', d: { ino: 'abcdef00cccccccccccccccc', type: 'file' } };
  const { client, asked } = fakeSwarm([[older], [entry], []], false, false, [true, false, false]);
  t.deepEqual(await client.get(entry.k), entry, 'the network home has the newer version');
  t.deepEqual(asked, ['127.0.0.1:7002']);
});

test('a home here whose database cannot be read is asked over the network in its place', async (t) => {
  // The first home's database is not readable here and the cell does not answer either: the other two make the majority.
  const { client, asked, readsHere } = fakeSwarm([[], [entry], [entry]], false, false, [true, true, false], [true, false, false]);
  t.deepEqual(await client.get(entry.k), entry);
  t.deepEqual(readsHere, ['127.0.0.1:7002']);
  t.false(asked.includes('127.0.0.1:7002'), 'the home read here is not asked again');
  t.true(asked.includes('127.0.0.1:7003'));
});

test('right after the storage cells changed, a record absent from the homes read here is still looked for beyond them', async (t) => {
  const { client, asked } = fakeSwarm([[], [], [entry]], true, false, [true, true, false]);
  t.deepEqual(await client.get(entry.k), entry);
  t.deepEqual(await client.scan(direntKey(DIR, '')), [entry]);
  t.true(asked.includes('127.0.0.1:7003'));
});
