import type { ExecutionContext } from 'ava';
import path from 'node:path';
import { SwarmClient, type LocalDisk } from '../../src/client/index.js';
import type { Cell } from '../../src/cell/index.js';
import type { Addr, Transport } from '../../src/core/index.js';
import { SwarmFs, defaultFsOptions, type FsOptions } from '../../src/mount/fs/index.js';
import type { SimSwarm } from './sim-swarm.js';

/**
 * A mount's file system (SwarmFs, no FUSE) on a simulated swarm: its own
 * SwarmClient on its own SimTransport, the swarm's clock and rng, no local
 * disk (everything crosses the simulated network). The cells' timers run on
 * simulated time, so every asynchronous call is driven by the swarm's clock:
 * `fs` is the file system with each promise-returning method driven that
 * way (an await on it returns once the call settled, after as much
 * simulated time as it took); `raw` is the file system itself, for calls
 * started now and settled later (two mounts at once: `swarm.settle(Promise.all(...))`).
 */
export interface SimMount {
  fs: SwarmFs;
  raw: SwarmFs;
  client: SwarmClient;
  /** Bytes of datagrams the mount's transport received (what it read from the swarm, framing included). */
  readonly bytesReceived: number;
}

/** Simulated time an fs call may take before the test fails (a failover waits out timeouts of several seconds). */
const FS_CALL_MS_MAX = 120_000;

/** Mount addresses: one host per mount, apart from the cells (10.0.0.x) and the swarm's test clients (10.0.255.x). */
let nextMountHost = 1;

/** A chunk size small enough that files of several chunks stay fast to simulate. */
export const SIM_CHUNK_BYTES = 64 * 1024;

/**
 * Mounts a file system on the swarm: init() driven on simulated time;
 * teardown releases every handle and closes the client (before the swarm
 * stops: ava runs teardowns last registered first).
 */
export async function mountSimFs(t: ExecutionContext, swarm: SimSwarm, change?: (o: FsOptions) => void, localDisk?: LocalDisk): Promise<SimMount> {
  const placement = { ...swarm.config.placement, chunkBytes: SIM_CHUNK_BYTES };
  const counted = countingTransport(swarm.net.transport(`10.0.254.${nextMountHost++ % 250}:0`));
  const client = new SwarmClient(
    { transport: counted.transport, clock: swarm.clock, rng: swarm.rng, localDisk },
    { swarmKey: swarm.swarmKey, seeds: swarm.slots.map((s) => s.addr), wire: swarm.config.wire, placement },
  );
  const opts = defaultFsOptions(placement);
  change?.(opts);
  const raw = new SwarmFs({ swarm: client, clock: swarm.clock }, opts);
  t.teardown(async () => {
    await swarm.settle(raw.closeAll(), FS_CALL_MS_MAX).catch((err) => t.log(`closeAll: ${(err as Error).message}`));
    await swarm.settle(client.close(), FS_CALL_MS_MAX).catch(() => undefined);
  });
  const fs = drivenBy(swarm, raw);
  await fs.init();
  return {
    fs,
    raw,
    client,
    get bytesReceived() {
      return counted.bytesReceived();
    },
  };
}

/** The object with each method that returns a promise driven by the swarm's clock until it settles. */
function drivenBy<T extends object>(swarm: SimSwarm, target: T): T {
  return new Proxy(target, {
    get(obj, prop, receiver) {
      const value: unknown = Reflect.get(obj, prop, receiver);
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        const result: unknown = (value as (...a: unknown[]) => unknown).apply(obj, args);
        return result instanceof Promise ? swarm.settle(result, FS_CALL_MS_MAX) : result;
      };
    },
  });
}

/**
 * The running cells' record databases as a mount on their machine reaches
 * them (records merged straight in and read, as LocalCellDisks does), and
 * nothing else on this machine: chunks cross the simulated network. A
 * stopped cell's database is not written or read, nor one `writable`
 * refuses; `beforeMerge` sees each cell about to be written.
 */
export function localRecordsDisk(swarm: SimSwarm, hooks: { beforeMerge?: (cell: Cell) => void; writable?: (cell: Cell) => boolean } = {}): LocalDisk {
  const cellOf = (recordsPath: string) => swarm.cells.find((c) => path.resolve(c.records.file) === recordsPath);
  const recordsOf = (recordsPath: string) => {
    const cell = cellOf(recordsPath);
    if (cell) hooks.beforeMerge?.(cell);
    return cell && (hooks.writable?.(cell) ?? true) ? cell.records : null;
  };
  const readableOf = (recordsPath: string) => {
    const cell = cellOf(recordsPath);
    return cell && (hooks.writable?.(cell) ?? true) ? cell.records : null;
  };
  return {
    start: () => undefined,
    readChunk: async () => null,
    readLeaves: () => null,
    leafHashes: () => null,
    openAhead: async () => undefined,
    leafHashLists: async () => undefined,
    mergeRecords: (recordsPath, records) => recordsOf(recordsPath)?.merge(records) ?? null,
    readRecords: (recordsPath, keys) => {
      const db = readableOf(recordsPath);
      return db ? keys.map((k) => db.get(k)) : null;
    },
    scanRecords: (recordsPath, prefix) => readableOf(recordsPath)?.scan(prefix, null, Number.MAX_SAFE_INTEGER) ?? null,
    restoreRecords: (recordsPath, undos) => {
      const db = recordsOf(recordsPath);
      db?.restore(undos);
      return !!db;
    },
    stage: async () => {
      throw new Error('chunks cross the network here');
    },
    unstage: () => undefined,
    copyOf: () => null,
    hashesOf: async () => {
      throw new Error('no aligned copies here');
    },
    release: () => undefined,
    close: async () => undefined,
  };
}

/** A transport that counts the bytes it receives. */
function countingTransport(inner: Transport): { transport: Transport; bytesReceived: () => number } {
  let received = 0;
  const transport: Transport = {
    get address(): Addr {
      return inner.address;
    },
    get sendErrors() {
      return inner.sendErrors;
    },
    send: (to, data, opts) => inner.send(to, data, opts),
    onUnreachable: (handler) => inner.onUnreachable(handler),
    onDatagram: (handler) =>
      inner.onDatagram((data, from) => {
        received += data.length;
        handler(data, from);
      }),
    close: () => inner.close(),
  };
  return { transport, bytesReceived: () => received };
}

/** O_RDONLY, O_WRONLY, O_RDWR, O_APPEND as open(2) takes them. */
export const O = { RDONLY: 0, WRONLY: 1, RDWR: 2, APPEND: 0o2000 } as const;

/** Writes data into an open file in pieces of at most `piece` bytes, from `position`. */
export async function writeAll(fs: SwarmFs, fd: number, data: Buffer, position = 0, piece = 128 * 1024): Promise<void> {
  for (let at = 0; at < data.length; at += piece) {
    const part = data.subarray(at, Math.min(at + piece, data.length));
    const n = await fs.write(fd, part, part.length, position + at);
    if (n !== part.length) throw new Error(`short write: ${n} of ${part.length} at ${position + at}`);
  }
}

/** Reads `length` bytes from `position` as the mount does: at once when it can (readNow), else asking the swarm; stops at the end of the file. */
export async function readRange(fs: SwarmFs, fd: number, position: number, length: number, piece = 128 * 1024): Promise<Buffer> {
  const parts: Buffer[] = [];
  for (let at = position; at < position + length; ) {
    const want = Math.min(piece, position + length - at);
    const out = Buffer.alloc(want);
    const n = fs.readNow(fd, out, want, at) ?? (await fs.read(fd, out, want, at));
    if (n === 0) break;
    parts.push(out.subarray(0, n));
    at += n;
  }
  return Buffer.concat(parts);
}

/** Creates (or replaces the contents of) a file with data, and closes it. */
export async function writeFile(fs: SwarmFs, path: string, data: Buffer, mode = 0o644): Promise<void> {
  const fd = await fs.create(path, mode);
  await writeAll(fs, fd, data);
  await fs.release(fd);
}

/** Opens a file, reads it whole (its size as getattr says), closes it. */
export async function readFile(fs: SwarmFs, path: string): Promise<Buffer> {
  const fd = await fs.open(path, O.RDONLY);
  try {
    const { size } = await fs.fgetattr(fd);
    return await readRange(fs, fd, 0, size);
  } finally {
    await fs.release(fd);
  }
}
