import test from 'ava';
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { CellStatus } from '../../src/cell/index.js';
import { connectSwarm } from '../../src/connect/index.js';
import { chunkKeyOf, defaultConfig, isChunkKey } from '../../src/core/index.js';
import { READ_AHEAD_KIB } from '../../src/mount/index.js';
import { placementOrder } from '../../src/placement/index.js';
import {
  attrCacheExpiredS,
  CLI,
  chunkFiles,
  cli,
  eventually,
  exited,
  holders,
  isAlive,
  mountLogged,
  mountLogs,
  mountOwnDir,
  mountSwarm,
  pidOf,
  sh,
  sharedSwarm,
  swarmCells,
  swarmUp,
  tmpDir,
  watch,
  watchSh,
} from '../helpers/index.js';

/**
 * Three cells for the tests that only write and read files (each mounts it afresh and works in a directory of
 * its own); tests that kill cells, fill the swarm or need other settings start their own.
 */
const shared = sharedSwarm(3);

/** Chunks cross the network even to and from cells on this machine (nothing granted by LOCAL_GRANT is used). */
const NETWORK_ONLY = { CELLSYNC_LOCAL: '0' };

test.serial('reads while cells are SIGKILLed: no error and correct bytes; writes while a cell is down', async (t) => {
  const src = await tmpDir(t);
  const home = await swarmUp(t, 5);
  const writer = await mountSwarm(t, home);
  const prep = await sh(
    `set -e; for i in 1 2 3 4 5 6; do head -c $((i * 1500000)) /dev/urandom > f$i; done; cp f* "${writer.mnt}/"; sha256sum f* > sums`,
    { cwd: src },
  );
  t.is(prep.code, 0, prep.stderr);
  // A second mount has nothing cached: every read goes to the swarm, over the network as on many machines
  // (local reads would find the killed cells' files still there).
  const reader = await mountSwarm(t, home, NETWORK_ONLY);
  // Sequential readers get the mount's read-ahead, not the kernel's 128 KiB for FUSE (the bdi is named by the mount's device).
  const device = (await readFile('/proc/self/mountinfo', 'utf8')).split('\n').map((l) => l.split(' ')).find((f) => f[4] === reader.mnt)?.[2];
  t.is((await readFile(`/sys/class/bdi/${device}/read_ahead_kb`, 'utf8')).trim(), String(READ_AHEAD_KIB));
  // Two cells that hold chunks of these files (placement decides which), killed while rounds of reads remain:
  // the first after one round, the second after another round read with the first one down.
  const [first, second] = await holders(await swarmCells(home));
  const reading = watchSh(
    t,
    `set -e; for round in 1 2 3 4 5 6 7 8; do (cd "${reader.mnt}" && sha256sum -c --quiet "${src}/sums"); echo 3 > /proc/sys/vm/drop_caches; echo "round $round read"; done; echo all-reads-ok`,
  );
  await reading.waitFor(/round 1 read/, 60_000);
  process.kill(await pidOf(first!), 'SIGKILL');
  await reading.waitFor(/round 2 read/, 60_000);
  process.kill(await pidOf(second!), 'SIGKILL');
  t.notRegex(reading.out(), /round 8 read/, 'both cells were killed while rounds of reads remained');
  const r = await reading.result;
  t.is(r.code, 0, r.stdout + r.stderr);
  t.regex(r.stdout, /all-reads-ok/);
  // Two of five cells are down (not yet declared dead): writes still work, and read back from another mount.
  const w = await sh(`set -e; head -c 2500000 /dev/urandom > "${src}/new"; cp "${src}/new" "${writer.mnt}/new"; cmp "${src}/new" "${reader.mnt}/new" && echo write-ok`);
  t.is(w.code, 0, w.stderr);
  t.regex(w.stdout, /write-ok/);
});

test.serial('random reads from a mount with nothing cached return the right bytes, also while a cell is SIGKILLed', async (t) => {
  const src = await tmpDir(t);
  const home = await swarmUp(t, 5);
  const writer = await mountSwarm(t, home);
  const prep = await sh(`set -e; head -c 24500000 /dev/urandom > big; head -c 70000 /dev/urandom > small; cp big small "${writer.mnt}/"`, { cwd: src });
  t.is(prep.code, 0, prep.stderr);
  // A second mount has nothing cached: random reads fetch the leaves they need from the cells, over the network.
  const reader = await mountSwarm(t, home, NETWORK_ONLY);
  const reading = watchSh(
    t,
    `python3 - "${src}" "${reader.mnt}" <<'PY'
import os, random, sys
src, mnt = sys.argv[1], sys.argv[2]
rng = random.Random(7)
bad = reads = 0
for i, name in enumerate(['big', 'small'] * 150):
    if i == 20: print('reading', flush=True)
    want = open(os.path.join(src, name), 'rb').read()
    fd = os.open(os.path.join(mnt, name), os.O_RDONLY)
    for _ in range(5):
        off = rng.randrange(0, len(want) + 100)
        n = rng.choice([1, 4096, 40000, 131072])
        reads += 1
        bad += os.pread(fd, n, off) != want[off:off + n]
    os.close(fd)
print(reads, bad)
PY`,
  );
  // A cell holding chunks of the files (placement decides which), killed once the reads are under way, with most to come.
  const victim = (await holders(await swarmCells(home)))[0]!;
  await reading.waitFor(/reading/, 60_000);
  process.kill(await pidOf(victim), 'SIGKILL');
  t.notRegex(reading.out(), /^\d+ \d+$/m, 'the cell was killed while reads remained');
  const r = await reading.result;
  t.is(r.code, 0, r.stderr);
  const [reads, bad] = r.stdout.trim().split('\n').pop()!.split(' ').map(Number);
  t.is(reads, 1500);
  t.is(bad, 0, 'every random read matches the source');
});

test.serial('random 4 KiB reads of a cold file read about the leaves they need from disk, not whole chunks, and the right bytes', async (t) => {
  const src = await tmpDir(t);
  const home = shared();
  const writer = await mountOwnDir(t, home);
  const prep = await sh(`set -e; head -c 67108864 /dev/urandom > big; cp big "${writer.mnt}/"`, { cwd: src });
  t.is(prep.code, 0, prep.stderr);
  const reader = await mountOwnDir(t, home);
  const readBytes = async () => Number(/read_bytes: (\d+)/.exec(await readFile(`/proc/${reader.pid}/io`, 'utf8'))?.[1]);
  const before = await readBytes();
  const r = await sh(
    `python3 - "${src}/big" "${reader.mnt}/big" <<'PY'
import os, random, sys
want = open(sys.argv[1], 'rb').read()
fd = os.open(sys.argv[2], os.O_RDONLY)
rng = random.Random(11)
bad = 0
for _ in range(400):
    off = rng.randrange(0, len(want) // 4096) * 4096
    bad += os.pread(fd, 4096, off) != want[off:off + 4096]
print(bad)
PY`,
  );
  t.is(r.code, 0, r.stderr);
  t.is(r.stdout.trim(), '0', 'every random read matches the source');
  // 400 leaves of 32 KiB are 12.5 MiB; reading a chunk whole (and the next ones ahead) for two random reads
  // that happen to land in the same or the next chunk had the mount read ~60 MiB here.
  const read = (await readBytes()) - before;
  t.true(read < 24 * 2 ** 20, `the mount read ${(read / 2 ** 20).toFixed(1)} MiB from disk for 400 random reads of 4 KiB`);
});

test.serial('a mount whose chunk cache holds one chunk: files written, patched in place and read back, here and in another mount, keep their bytes', async (t) => {
  // A written chunk's buffer goes to the cache, and back to the pool when the cache drops it, to hold the next
  // chunk written: with one chunk's worth of cache, every buffer is reused within a chunk or two.
  const src = await tmpDir(t);
  const home = shared();
  const writer = await mountOwnDir(t, home, undefined, ['--cache-size', '5M']);
  const r = await sh(
    `set -e; head -c 20000000 /dev/urandom > a; head -c 13000000 /dev/urandom > b; head -c 3000000 /dev/urandom > patch
     cp a b "${writer.mnt}/"
     for f in a "${writer.mnt}/a"; do dd if=patch of="$f" bs=1000 seek=7000 conv=notrunc status=none; done
     cmp a "${writer.mnt}/a"; cmp b "${writer.mnt}/b"; echo written`,
    { cwd: src },
  );
  t.is(r.code, 0, r.stderr);
  t.regex(r.stdout, /written/);
  const reader = await mountOwnDir(t, home);
  const again = await sh(`set -e; cmp a "${reader.mnt}/a"; cmp b "${reader.mnt}/b"; echo read`, { cwd: src });
  t.is(again.code, 0, again.stderr);
  t.regex(again.stdout, /read/);
});

test.serial('random writes into stored chunks not in memory, mixed with reads, appends and cuts, keep every byte, here and in another mount', async (t) => {
  // Such writes are kept as patches of their chunk until it is read, stored or cut: each kind of access
  // below comes while some chunks have patches, and many writes into one chunk go past what a chunk collects.
  const src = await tmpDir(t);
  const home = shared();
  const writer = await mountOwnDir(t, home, undefined, ['--cache-size', '5M']);
  const prep = await sh(`set -e; head -c 20000000 /dev/urandom > ref; cp ref "${writer.mnt}/f"`, { cwd: src });
  t.is(prep.code, 0, prep.stderr);
  const r = await sh(
    `python3 - "${src}/ref" "${writer.mnt}/f" <<'PY'
import os, random, sys
ref, mnt = (os.open(p, os.O_RDWR) for p in sys.argv[1:3])
rng = random.Random(11)
bad = 0
def both(op, *a):
    x, y = op(ref, *a), op(mnt, *a)
    return x, y
hot = [rng.randrange(0, 20000000) for _ in range(12)]
for step in range(600):
    size = os.fstat(ref).st_size
    kind = rng.random()
    if kind < 0.70:
        # Some writes land on a few spots again and again: later writes over earlier ones in one chunk.
        off = rng.choice(hot) + rng.randrange(-3000, 3000) if kind < 0.3 else rng.randrange(0, size + 50000)
        both(os.pwrite, os.urandom(rng.choice([1, 4096, 10000, 70000])), max(0, off))
    elif kind < 0.90:
        off = rng.randrange(0, size + 100); n = rng.choice([1, 4096, 200000, 5000000])
        x, y = both(os.pread, n, off)
        bad += x != y
    elif kind < 0.95:
        data = os.urandom(rng.choice([10, 5000]))
        both(lambda fd, d: os.pwrite(fd, d, os.fstat(fd).st_size), data)
    else:
        both(os.ftruncate, rng.randrange(size // 2, size + 3000000))
    if step == 300:
        # Many small writes into one chunk: more than it collects as patches.
        for i in range(400):
            both(os.pwrite, os.urandom(1000), 8400000 + i * 2100)
os.fsync(mnt)
# Everything stored, and the cache holds about one chunk: overlapping writes into two chunks not in memory, read back.
for spot in (1000000, 13000000):
    for i in range(50):
        both(os.pwrite, os.urandom(5000), spot + (i * 37) % 4000)
    x, y = both(os.pread, 20000, spot - 1000)
    bad += x != y
os.fsync(mnt)
x, y = both(os.pread, 40000000, 0)
print(bad, int(x == y), os.fstat(ref).st_size == os.fstat(mnt).st_size)
PY`,
    { timeoutMs: 120_000 },
  );
  t.is(r.code, 0, r.stderr);
  t.is(r.stdout.trim(), '0 1 True', 'every read while writing, and the whole file after, match the reference');
  // A patched chunk whose stored bytes a sequential reader's read-ahead has since brought into memory, written again.
  // The mount's debug log says when a chunk was read ahead: the second write waits for that line about chunk 1.
  const second = await mountOwnDir(t, home, { DEBUG: 'cellsync:*' }, ['--cache-size', '9M']);
  const chunk = defaultConfig().placement.chunkBytes;
  const data = randomBytes(8_000_000);
  t.true(data.length > chunk && Math.floor(4_200_000 / chunk) === 1 && Math.floor(4_204_000 / chunk) === 1, 'both writes land in chunk 1, which is stored');
  await writeFile(path.join(src, 'ref2'), data);
  const readAhead = new RegExp(`chunk ${chunkKeyOf(data.subarray(chunk, 2 * chunk)).slice(0, 8)} read ahead`, 'g');
  const ahead = watch(t, 'python3', [
    '-c',
    `
import os, sys
data = open(sys.argv[1], 'rb').read()
with open(sys.argv[2], 'wb') as f: f.write(data)
ref, mnt = (os.open(p, os.O_RDWR) for p in sys.argv[1:3])
print('stored', flush=True); sys.stdin.readline()
patch, again = os.urandom(3000), os.urandom(3000)
for fd in (ref, mnt): os.pwrite(fd, patch, 4200000)
os.pread(mnt, 1 << 20, 0)
print('read', flush=True); sys.stdin.readline()
for fd in (ref, mnt): os.pwrite(fd, again, 4201000)
print(int(os.pread(ref, 20000, 4199000) == os.pread(mnt, 20000, 4199000)))
`,
    path.join(src, 'ref2'),
    path.join(second.mnt, 'g'),
  ]);
  await ahead.waitFor(/stored/, 60_000);
  // Chunk 1 out of memory before the first write, so that write is a patch of the stored chunk.
  process.kill(second.pid, 'SIGUSR2');
  await mountLogged(home, new RegExp(`SIGUSR2: caches of ${second.mountPoint} dropped`));
  const readAheadBefore = (await mountLogs(home)).match(readAhead)?.length ?? 0;
  ahead.child.stdin!.write('\n');
  await ahead.waitFor(/read/, 60_000);
  await eventually(async () => ((await mountLogs(home)).match(readAhead)?.length ?? 0) > readAheadBefore, 10_000, 'chunk 1 read ahead after the patch');
  ahead.child.stdin!.end('\n');
  const aheadDone = await ahead.result;
  t.is(aheadDone.code, 0, aheadDone.stderr);
  t.is(aheadDone.stdout.trim().split('\n').pop(), '1', 'the second write is kept');
  const reader = await mountOwnDir(t, home);
  const again = await sh(`cmp "${src}/ref" "${reader.mnt}/f" && cmp "${src}/ref2" "${reader.mnt}/g" && echo same`);
  t.is(again.code, 0, again.stderr + again.stdout);
  t.regex(again.stdout, /same/);
});

test.serial('a chunk cache far smaller than the files: reading two files in turn, whole and at random, gives the right bytes every time', async (t) => {
  // Chunks read from local cells' files go into buffers that return to a pool when the cache drops them:
  // here every chunk is dropped and its buffer reused within a few reads.
  const src = await tmpDir(t);
  const home = shared();
  const writer = await mountOwnDir(t, home);
  const prep = await sh(`set -e; head -c 9000000 /dev/urandom > a; head -c 7500000 /dev/urandom > b; cp a b "${writer.mnt}/"`, { cwd: src });
  t.is(prep.code, 0, prep.stderr);
  const reader = await mountOwnDir(t, home, undefined, ['--cache-size', '3M']);
  const r = await sh(
    `python3 - "${src}" "${reader.mnt}" <<'PY'
import os, random, sys
src, mnt = sys.argv[1], sys.argv[2]
want = {n: open(os.path.join(src, n), 'rb').read() for n in 'ab'}
fds = {n: os.open(os.path.join(mnt, n), os.O_RDONLY) for n in 'ab'}
rng = random.Random(3)
bad = 0
for rnd in range(3):
    for off in range(0, 9000000, 1 << 19):
        for n in 'ab':
            bad += os.pread(fds[n], 1 << 19, off) != want[n][off:off + (1 << 19)]
    for _ in range(200):
        n = rng.choice('ab')
        off = rng.randrange(0, len(want[n]))
        bad += os.pread(fds[n], 4096, off) != want[n][off:off + 4096]
print(bad)
PY`,
    { timeoutMs: 120_000 },
  );
  t.is(r.code, 0, r.stderr);
  t.is(r.stdout.trim(), '0', 'every read matches the source');
});

test.serial('cells on this machine take chunks as files and serve them from their files: right bytes, almost nothing crosses the network, corrupt copies still caught', async (t) => {
  const src = await tmpDir(t);
  const home = await swarmUp(t, 5);
  const cells = await swarmCells(home);
  const status = await connectSwarm({ swarmKey: await readFile(path.join(home, 'swarm.key')) });
  t.teardown(() => status.close());
  const views = async () => (await status.statusMany(cells.map((c) => `${c.host}:${c.port}`))) as CellStatus[];
  const sent = async () => (await views()).reduce((sum, v) => sum + v.wire.bytesSent, 0);
  const received = async () => (await views()).reduce((sum, v) => sum + v.wire.bytesReceived, 0);

  // Writes: three copies of 12 MB would be 36 MB received over the network. (The first chunk written makes the
  // mount ask the cells for grants; until they answer, chunks travel over the network.)
  const writer = await mountSwarm(t, home);
  t.is((await sh(`head -c 300000 /dev/urandom > "${writer.mnt}/first"`)).code, 0);
  const beforeWrite = await received();
  const prep = await sh(`set -e; head -c 12000000 /dev/urandom > big; cp big "${writer.mnt}/"; cmp big "${writer.mnt}/big"`, { cwd: src });
  t.is(prep.code, 0, prep.stderr);
  const written = (await received()) - beforeWrite;
  t.true(written < 4_000_000, `cells received ${written} bytes while a 12 MB file was written`);
  for (const c of cells) t.deepEqual(await readdir(path.join(c.data, 'incoming')), [], 'every file handed over was adopted and removed');

  // Reads from a fresh mount, sequential and random. Over the network they would make the cells send 12 MB at least.
  const reader = await mountSwarm(t, home);
  const before = await sent();
  const read = await sh(
    `set -e; cmp big "${reader.mnt}/big"; python3 - big "${reader.mnt}/big" <<'PY'
import os, random, sys
want = open(sys.argv[1], 'rb').read()
fd = os.open(sys.argv[2], os.O_RDONLY)
rng = random.Random(3)
bad = 0
for _ in range(300):
    off, n = rng.randrange(0, len(want)), rng.choice([1, 4096, 70000])
    bad += os.pread(fd, n, off) != want[off:off + n]
print('bad', bad)
PY`,
    { cwd: src },
  );
  t.is(read.code, 0, read.stdout + read.stderr);
  t.regex(read.stdout, /bad 0/);
  const crossed = (await sent()) - before;
  t.true(crossed < 2_000_000, `cells sent ${crossed} bytes while a 12 MB file was read`);

  // The copies of one chunk that a reader tries first and second go bad on disk: a fresh mount still reads the
  // right bytes, and the cells holding the bad copies find them (the reader asks them over the network when a
  // local copy fails its check).
  const holders = new Map<string, { id: string; file: string }[]>();
  for (const c of cells) {
    const { id } = JSON.parse(await readFile(path.join(c.data, 'identity.json'), 'utf8')) as { id: string };
    for (const sub of await readdir(path.join(c.data, 'chunks'))) {
      for (const f of await readdir(path.join(c.data, 'chunks', sub))) if (isChunkKey(f)) holders.set(f, [...(holders.get(f) ?? []), { id, file: path.join(c.data, 'chunks', sub, f) }]);
    }
  }
  // The second chunk of big: its key is the hash of those bytes.
  const chunk = defaultConfig().placement.chunkBytes;
  const key = chunkKeyOf((await readFile(path.join(src, 'big'))).subarray(chunk, 2 * chunk));
  const copies = holders.get(key)!;
  t.is(copies.length, 3);
  const order = placementOrder(key, (await views())[0]!.members.map((m) => ({ id: m.id, weight: 1 })));
  const files = order.map((id) => copies.find((c) => c.id === id)?.file).filter((f): f is string => f !== undefined);
  for (const f of files.slice(0, 2)) {
    const bytes = await readFile(f);
    bytes[1000] ^= 0xff;
    await writeFile(f, bytes);
  }
  const again = await mountSwarm(t, home);
  const r = await sh(`cmp big "${again.mnt}/big" && echo same`, { cwd: src });
  t.is(r.code, 0, r.stdout + r.stderr);
  const found = (await views()).reduce((sum, v) => sum + v.store.corruptFound, 0);
  t.is(found, 2, 'every bad copy read was found by its cell');
});

test.serial('SIGUSR2 empties the mount\'s caches: a file whose chunks are gone from every cell still reads from the cache before it, and fails with EIO after', async (t) => {
  const src = await tmpDir(t);
  const home = await swarmUp(t, 3);
  const { mnt, pid } = await mountSwarm(t, home);
  const w = await sh(`head -c 1000000 /dev/urandom > f && cp f "${mnt}/f" && cmp f "${mnt}/f" && echo ok`, { cwd: src });
  t.regex(w.stdout, /ok/, w.stderr);
  for (const c of await swarmCells(home)) for (const f of await chunkFiles(c)) await rm(f);
  const readBack = () => sh(`echo 3 > /proc/sys/vm/drop_caches; cmp f "${mnt}/f" && echo same`, { cwd: src });
  t.regex((await readBack()).stdout, /same/, 'served from the mount\'s chunk cache');
  process.kill(pid, 'SIGUSR2');
  const logs = path.join(home, 'mounts');
  await eventually(async () => {
    for (const f of await readdir(logs)) if ((await readFile(path.join(logs, f), 'utf8')).includes(`SIGUSR2: caches of ${mnt} dropped`)) return true;
    return false;
  }, 5_000, 'the mount log to say so');
  const after = await readBack();
  t.not(after.code, 0);
  t.regex(after.stderr, /Input\/output error/, 'the data is truly gone: EIO');
  t.true(isAlive(pid), 'the mount still serves');
  t.regex((await sh(`ls "${mnt}"`)).stdout, /^f$/m);
});

test.serial('cells sending 1,200-byte datagrams (--datagram-bytes) and a mount sending 60 KiB ones understand each other', async (t) => {
  const src = await tmpDir(t);
  const home = await swarmUp(t, 3, ['--datagram-bytes', '1200']);
  const { mnt } = await mountSwarm(t, home, NETWORK_ONLY); // the chunks themselves must travel in those datagrams
  const r = await sh(`set -e; head -c 3000000 /dev/urandom > f; cp f "${mnt}/f"; cmp f "${mnt}/f" && echo same`, { cwd: src });
  t.is(r.code, 0, r.stderr);
  t.is(r.stdout.trim(), 'same');
});

test.serial('a mount and swarm status on another machine (a network namespace over a veth pair) reach the cells by their address', async (t) => {
  // Two "machines": the cells on 10.77.N.1 in this namespace, the mount in a namespace of its own on 10.77.N.2.
  const ns = `cs${process.pid}`;
  const net = `10.77.${process.pid % 250}`;
  t.teardown(() => sh(`ip netns del ${ns} 2>/dev/null; ip link del v${ns}a 2>/dev/null; true`).then(() => undefined));
  const setup = await sh(`set -e
    ip netns add ${ns}
    ip link add v${ns}a type veth peer name v${ns}b
    ip link set v${ns}b netns ${ns}
    ip addr add ${net}.1/24 dev v${ns}a && ip link set v${ns}a up
    ip netns exec ${ns} ip addr add ${net}.2/24 dev v${ns}b
    ip netns exec ${ns} ip link set v${ns}b up && ip netns exec ${ns} ip link set lo up`);
  t.is(setup.code, 0, setup.stderr);
  const home = await swarmUp(t, 3, ['--host', `${net}.1`]);
  const mnt = path.join(await tmpDir(t, 'cellsync-mnt-'), 'mnt');
  await mkdir(mnt);
  t.teardown(() => cli(['umount', '--lazy', mnt]).then(() => undefined));
  // nsenter --net: the mount's network is the other namespace, its mount is visible here.
  // CELLSYNC_LOCAL=0: as on another machine, no chunk files are shared.
  const mounted = await sh(`CELLSYNC_LOCAL=0 nsenter --net=/run/netns/${ns} "${CLI}" mount --home "${home}" "${mnt}" --daemon`);
  t.is(mounted.code, 0, mounted.stderr);
  const r = await sh(`set -e; head -c 2500000 /dev/urandom > f; cp f "${mnt}/f"; cmp f "${mnt}/f" && echo same`, { cwd: path.dirname(mnt) });
  t.is(r.code, 0, r.stderr);
  t.is(r.stdout.trim(), 'same');
  t.is((await cli(['umount', mnt])).code, 0);
  const status = await sh(`nsenter --net=/run/netns/${ns} "${CLI}" swarm status --home "${home}" --json`);
  t.is(status.code, 0, `swarm status from the other machine: ${status.stderr}`);
  t.is((JSON.parse(status.stdout) as { cells: unknown[] }).cells.length, 3);
});

test.serial('storage cells joining under a mount: every file in every directory stays readable while records move to their new homes', async (t) => {
  const timing = ['--heartbeat-ms', '500', '--failure-timeout-ms', '2000'];
  const home = await swarmUp(t, 3, timing);
  const { mnt } = await mountSwarm(t, home);
  // 40 directories: 40 placement groups, so some get two new cells as their first homes.
  // The big file gives the cells chunks to move, which used to delay the records.
  const prep = await sh(`set -e; cd "${mnt}"; for d in $(seq 1 40); do mkdir d$d; echo "file $d" > d$d/f; done; head -c 128M /dev/urandom > big`);
  t.is(prep.code, 0, prep.stderr);
  const grow = await cli(['swarm', 'up', '--home', home, '--cells', '7', '--base-port', '0', '--role', 'storage', ...timing]);
  t.is(grow.code, 0, grow.stderr);
  const r = await sh(
    // At least 8 s and 3 rounds of the 40 files (a loaded machine may take 8 s for one round).
    `n=0; bad=0; rounds=0; end=$((SECONDS + 8)); while [ $SECONDS -lt $end ] || [ $rounds -lt 3 ]; do rounds=$((rounds + 1)); for d in $(seq 1 40); do n=$((n + 1)); [ "$(cat "${mnt}/d$d/f" 2>&1)" = "file $d" ] || { bad=$((bad + 1)); echo "d$d: $(cat "${mnt}/d$d/f" 2>&1)" >&2; }; done; done; echo "$n $bad"`,
    { timeoutMs: 60_000 },
  );
  const [reads, bad] = r.stdout.trim().split(' ').map(Number);
  t.log(`${reads} reads while 4 storage cells joined`);
  t.is(bad, 0, r.stderr.split('\n').slice(0, 5).join('\n'));
  t.true(reads! >= 120);
});

test.serial('two mounts: a file closed on one is readable on the other; concurrent creates in one directory all survive', async (t) => {
  const home = await swarmUp(t, 4);
  const a = await mountSwarm(t, home);
  const b = await mountSwarm(t, home);
  const r1 = await sh(`set -e; echo from-a > "${a.mnt}/shared"; cat "${b.mnt}/shared"; mkdir "${a.mnt}/dir"`);
  t.is(r1.code, 0, r1.stderr);
  t.is(r1.stdout.trim(), 'from-a');
  const r2 = await sh(`set -e; echo changed > "${b.mnt}/shared"; cat "${a.mnt}/shared"`);
  t.is(r2.stdout.trim(), 'changed', 'close-to-open: a reopen sees the other mount\'s write');
  const creates = await sh(`
    set -e
    (for i in $(seq 1 40); do echo a$i > "${a.mnt}/dir/a-$i"; done) &
    (for i in $(seq 1 40); do echo b$i > "${b.mnt}/dir/b-$i"; done) &
    wait
    sleep ${attrCacheExpiredS()}   # attribute and entry caches expire: the listings come from the swarm
    ls "${a.mnt}/dir" | wc -l; ls "${b.mnt}/dir" | wc -l; cat "${a.mnt}/dir/b-17" "${b.mnt}/dir/a-23"
  `);
  t.is(creates.code, 0, creates.stderr);
  t.deepEqual(creates.stdout.trim().split('\n'), ['80', '80', 'b17', 'a23']);
});

test.serial('a file still open after create: listed and readable in its own mount, renamed and removed while open, whole in the other after close', async (t) => {
  const home = shared();
  const a = await mountOwnDir(t, home);
  const b = await mountOwnDir(t, home);
  // One process that never forks: every close of a copy of a descriptor (a child's too) is a flush.
  const r = await sh(`python3 - "${a.mnt}" "${b.mnt}" <<'PY'
import os, sys
a, b = sys.argv[1], sys.argv[2]
f = os.open(a + '/open-file', os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
os.write(f, b'first\\n')
print('a:', sorted(os.listdir(a)))
print(open(a + '/open-file').read().strip())
os.rename(a + '/open-file', a + '/renamed')
os.write(f, b'second\\n')
g = os.open(a + '/doomed', os.O_WRONLY | os.O_CREAT, 0o644)
os.write(g, b'x')
os.unlink(a + '/doomed')
os.write(g, b'y')
os.close(g)
os.close(f)
# libfuse hides a file unlinked while open as .fuse_hidden* and removes it at release, which comes after close().
import time
deadline = time.time() + 5
while any(n.startswith('.fuse_hidden') for n in os.listdir(b)) and time.time() < deadline:
    time.sleep(0.05)
print('after:', sorted(os.listdir(b)))
print(open(b + '/renamed').read().replace('\\n', ' ').strip())
PY`);
  t.is(r.code, 0, r.stderr);
  t.deepEqual(r.stdout.trim().split('\n'), ["a: ['open-file']", 'first', "after: ['renamed']", 'first second']);
});

test.serial('umount and mount again at once on the same directory: the old mount process exits, the new one serves', async (t) => {
  const home = await swarmUp(t, 3);
  const first = await mountSwarm(t, home);
  t.is((await sh(`echo kept > "${first.mnt}/f"`)).code, 0);
  t.is((await cli(['umount', first.mnt])).code, 0);
  const again = await cli(['mount', '--home', home, first.mnt, '--daemon']);
  t.is(again.code, 0, again.stderr);
  const pid = Number(/pid (\d+)/.exec(again.stdout)?.[1]);
  t.teardown(async () => {
    await cli(['umount', '--lazy', first.mnt]);
    if (isAlive(pid)) process.kill(pid, 'SIGKILL');
  });
  await eventually(() => !isAlive(first.pid), 5_000, 'the first mount process exits');
  t.true(isAlive(pid));
  t.is((await sh(`cat "${first.mnt}/f"`)).stdout.trim(), 'kept');
});

test.serial('the swarm full: ENOSPC, what was stored before stays intact, and the mount log says what failed', async (t) => {
  const home = await swarmUp(t, 3, ['--capacity', '6M']);
  const { mnt } = await mountSwarm(t, home);
  const r = await sh(`
    head -c 1000000 /dev/urandom > /tmp/keep.$$ && cp /tmp/keep.$$ "${mnt}/keep"
    { head -c 20000000 /dev/urandom > "${mnt}/too-big"; } 2>&1; echo "exit=$?"
    cmp /tmp/keep.$$ "${mnt}/keep" && echo keep-ok; rm -f /tmp/keep.$$
  `);
  t.regex(r.stdout + r.stderr, /No space left on device/);
  t.regex(r.stdout, /keep-ok/);
  // The program saw only the errno: the mount's log says which operation on which file failed, and why.
  const log = await sh(`cat "${home}"/mounts/*.log`);
  t.regex(log.stdout, /Z \w+ \/too-big: ENOSPC \(.+\)$/m);
});

test.serial('the disk under the cells full (a 48 MiB tmpfs): ENOSPC, every cell keeps running, what was stored before stays intact', async (t) => {
  const disk = await tmpDir(t);
  const home = path.join(disk, 'home');
  t.teardown(async () => {
    await cli(['swarm', 'down', '--home', home]).catch(() => undefined);
    await sh(`umount -l "${disk}"`);
  });
  // Other files on the disk take part of it: removed, they make room again. Room for more than the file written
  // then: the chunk of the write that failed may have one copy stored, which heal then copies to the other cells.
  const made = await sh(`mount -t tmpfs -o size=48m cellsync-test-disk "${disk}" && head -c 20000000 /dev/zero > "${disk}/ballast"`);
  t.is(made.code, 0, made.stderr);
  await swarmUp(t, 3, [], home);
  const { mnt } = await mountSwarm(t, home);
  const r = await sh(`
    head -c 5000000 /dev/urandom > /tmp/keep.$$ && cp /tmp/keep.$$ "${mnt}/keep"
    for i in 1 2 3 4 5 6; do { head -c 4000000 /dev/urandom > "${mnt}/fill-$i"; } 2>&1 || { echo "full at $i"; break; }; done
    cmp /tmp/keep.$$ "${mnt}/keep" && echo keep-ok; rm -f /tmp/keep.$$
  `);
  t.regex(r.stdout + r.stderr, /No space left on device/);
  t.regex(r.stdout, /full at \d/);
  t.regex(r.stdout, /keep-ok/);
  for (const cell of await swarmCells(home)) t.true(isAlive(await pidOf(cell)), `${cell.name} still runs`);
  // Room made on the disk is used again, by the same cells.
  const again = await sh(`rm "${disk}/ballast" && head -c 1000000 /dev/urandom > /tmp/again.$$ && cp /tmp/again.$$ "${mnt}/again" && cmp /tmp/again.$$ "${mnt}/again" && echo again-ok; rm -f /tmp/again.$$`);
  t.regex(again.stdout, /again-ok/, again.stderr);
});

test.serial('mount refuses a missing or non-empty directory and a swarm with no reachable cell; umount reports busy; a killed mount is cleaned by umount', async (t) => {
  const dir = await tmpDir(t);
  const home = await swarmUp(t, 3);
  const missing = await cli(['mount', '--home', home, path.join(dir, 'nope')]);
  t.is(missing.code, 1);
  t.regex(missing.stderr, /does not exist/);
  await mkdir(path.join(dir, 'full'));
  await sh(`touch "${dir}/full/x"`);
  const full = await cli(['mount', '--home', home, path.join(dir, 'full')]);
  t.is(full.code, 1);
  t.regex(full.stderr, /not empty/);

  const { mnt, pid } = await mountSwarm(t, home);
  // A shell whose working directory is in the mount, until its stdin closes.
  const holder = watchSh(t, `cd "${mnt}" && echo inside && read`);
  await holder.waitFor(/inside/, 10_000);
  const busy = await cli(['umount', mnt]);
  t.is(busy.code, 1);
  t.regex(busy.stderr, /busy/);
  holder.child.stdin!.end('\n');
  await holder.result;
  process.kill(pid, 'SIGKILL');
  await eventually(() => !isAlive(pid), 5_000, 'the killed mount process gone');
  t.false(isAlive(pid));
  const stale = await sh(`ls "${mnt}" 2>&1`);
  // ENOTCONN, or ECONNABORTED when the ls was already on its way as the process's end aborted the connection.
  t.regex(stale.stdout, /not connected|connection abort/);
  const again = await cli(['mount', '--home', home, mnt]);
  t.is(again.code, 1);
  t.regex(again.stderr, /is a mount whose process is gone: cellsync umount/, 'mounting over it says what to do');
  const cleaned = await cli(['umount', mnt]);
  t.is(cleaned.code, 0, cleaned.stderr);
  t.is((await sh(`grep -c " ${mnt} " /proc/mounts`)).stdout.trim(), '0');

  await cli(['swarm', 'down', '--home', home]);
  const empty = path.join(dir, 'mnt2');
  await mkdir(empty);
  const unreachable = await cli(['mount', '--home', home, empty]);
  t.is(unreachable.code, 1);
  t.regex(unreachable.stderr, /no cell answered/);
  t.is(unreachable.stderr.trim().split('\n').length, 1);
});

test.serial('Ctrl-C on a foreground mount unmounts cleanly', async (t) => {
  const dir = await tmpDir(t);
  const home = shared();
  const mnt = path.join(dir, 'mnt');
  await mkdir(mnt);
  const mount = watch(t, CLI, ['mount', '--home', home, mnt]);
  t.teardown(() => cli(['umount', '--lazy', mnt]).then(() => undefined, () => undefined));
  await mount.waitFor(/mounted/, 20_000);
  const w = await sh(`echo kept > "${mnt}/file" && cat "${mnt}/file"`);
  t.is(w.stdout.trim(), 'kept');
  mount.child.kill('SIGINT');
  const code = await exited(mount.child);
  t.is(code, 0);
  t.regex((await mount.result).stdout, /unmounted/);
  t.is((await sh(`grep -c " ${mnt} " /proc/mounts`)).stdout.trim(), '0');
});
