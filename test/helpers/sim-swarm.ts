import type { ExecutionContext } from 'ava';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Cell, loadRole } from '../../src/cell/index.js';
import {
  SimClock,
  chunkKeyOf,
  defaultConfig,
  seededRng,
  type Addr,
  type CellConfig,
  type ChunkKey,
  type Rng,
} from '../../src/core/index.js';
import type { Member, Role } from '../../src/membership/index.js';
import { replicaSet, storageCandidates } from '../../src/placement/index.js';
import { Endpoint } from '../../src/rpc/index.js';
import { SimNetwork } from '../../src/transport/index.js';
import { KeyRing, MessageType, encodePut } from '../../src/wire/index.js';

/**
 * A swarm of real Cells in this process, on one SimNetwork, driven by one
 * SimClock and one seeded Rng: heal, immune, differentiation and placement
 * run as in production, minutes of their time in milliseconds of ours. The
 * cells' disk I/O is real (data dirs in a temp dir, in memory where
 * /dev/shm exists); the clock waits for it between timers (SimClock.run).
 * A run replays from its seed, up to the order in which concurrent disk
 * operations finish.
 */
export interface SimSwarmOptions {
  cells: number;
  seed: number;
  /** Each cell's role, pinned (one role for all, or one per cell); 'differentiate' starts stem cells that choose. Default: storage. */
  roles?: Role | 'differentiate' | (Role | 'differentiate')[];
  /** Changes to the cells' configuration (applied to defaultConfig() plus the simulation's own settings). */
  config?: (c: CellConfig) => void;
}

/** One cell's place in the swarm: its address and data dir outlive the Cell instances that run there. */
export interface SimCellSlot {
  index: number;
  addr: Addr;
  dataDir: string;
  role: Role | 'differentiate';
  /** The running cell, or null while crashed. */
  cell: Cell | null;
  /** Its id (the same across restarts). */
  id: string;
}

/** Simulated time given to a cell to start or stop (joins and requests in flight time out well within it). */
const LIFECYCLE_MS_MAX = 60_000;
/** Capacity of every cell: fixed, so that role and placement decisions do not depend on the test machine's disk. */
const CAPACITY_BYTES = 1024 ** 3;

/** Seeds for a scenario: `count` of them from `base`, or only CELLSYNC_SEED when set (to replay a failure). */
export function simSeeds(count: number, base = 1): number[] {
  const replay = process.env.CELLSYNC_SEED;
  return replay !== undefined ? [Number(replay)] : Array.from({ length: count }, (_, i) => base + i);
}

/** The configuration of simulated cells: production defaults, the store's capacity fixed. */
export function simConfig(change?: (c: CellConfig) => void): CellConfig {
  const c = defaultConfig();
  c.store.capacityBytes = CAPACITY_BYTES;
  // A simulated swarm sends few requests; the answer cache's table is allocated whole, milliseconds per cell at the default size.
  c.wire.dedupEntriesMax = 512;
  change?.(c);
  return c;
}

const hex = (rng: Rng, bytes: number) => Buffer.from(Array.from({ length: bytes }, () => rng.int(256))).toString('hex');

export class SimSwarm {
  readonly clock = new SimClock();
  readonly rng: Rng;
  readonly net: SimNetwork;
  readonly slots: SimCellSlot[] = [];
  /** A test client on the network (as a mount or the CLI would be): stores chunks, sends records. */
  client!: Endpoint;
  private readonly clients: Endpoint[] = [];
  readonly swarmKey: Buffer;

  constructor(
    readonly seed: number,
    readonly config: CellConfig,
    private readonly root: string,
  ) {
    this.rng = seededRng(seed);
    this.net = new SimNetwork({ clock: this.clock, rng: this.rng });
    this.swarmKey = Buffer.from(hex(this.rng, 32), 'hex');
  }

  /** The running cells. */
  get cells(): Cell[] {
    return this.slots.flatMap((s) => (s.cell ? [s.cell] : []));
  }

  slot(cell: Cell | number): SimCellSlot {
    const s = typeof cell === 'number' ? this.slots[cell] : this.slots.find((x) => x.cell === cell);
    if (!s) throw new Error('no such cell in this swarm');
    return s;
  }

  /** Adds a cell slot (not started). Its id is drawn from the seed, so placement replays too. */
  async addSlot(role: Role | 'differentiate'): Promise<SimCellSlot> {
    const index = this.slots.length;
    const dataDir = path.join(this.root, `cell-${index}`);
    const id = hex(this.rng, 8);
    // incarnation 0: the first start makes it 1, as for a new cell.
    await mkdir(dataDir, { recursive: true });
    await writeFile(path.join(dataDir, 'identity.json'), JSON.stringify({ id, incarnation: 0 }) + '\n');
    const slot: SimCellSlot = { index, addr: `10.0.${Math.floor(index / 250)}.${(index % 250) + 1}:7400`, dataDir, role, cell: null, id };
    this.slots.push(slot);
    return slot;
  }

  /** Starts the cell of a slot, joining through every other slot's address; time runs while it starts. */
  async start(slotOrIndex: SimCellSlot | number): Promise<Cell> {
    const slot = typeof slotOrIndex === 'number' ? this.slots[slotOrIndex]! : slotOrIndex;
    if (slot.cell) throw new Error(`cell ${slot.index} is running`);
    this.net.heal(slot.addr);
    const saved = slot.role === 'differentiate' ? await loadRole(slot.dataDir) : null;
    const role: Role = slot.role === 'differentiate' ? (saved?.role ?? 'stem') : slot.role;
    const starting = Cell.start(
      { transport: this.net.transport(slot.addr), clock: this.clock, rng: this.rng },
      {
        dataDir: slot.dataDir,
        host: '',
        port: 0,
        seeds: this.slots.filter((s) => s !== slot).map((s) => s.addr),
        swarmKey: this.swarmKey,
        config: this.config,
        role,
        rolePinned: slot.role !== 'differentiate',
        // Repair copies cross the simulated network, as between machines (the files path is tested with real cells).
        localPushes: false,
      },
    );
    slot.cell = await this.clock.runWhile(starting, LIFECYCLE_MS_MAX);
    return slot.cell;
  }

  /** Stops a cell the orderly way (it says goodbye: LEAVE); time runs while it stops. */
  async stop(cell: Cell | number, opts: { leave?: boolean } = {}): Promise<void> {
    const slot = this.slot(cell);
    if (!slot.cell) return;
    const c = slot.cell;
    slot.cell = null;
    await this.clock.runWhile(c.stop(opts), LIFECYCLE_MS_MAX);
  }

  /** The cell dies at once: cut off from the network from this instant (no goodbye, nothing in flight answered), then its process parts stopped. */
  async crash(cell: Cell | number): Promise<SimCellSlot> {
    const slot = this.slot(cell);
    this.net.isolate(slot.addr);
    await this.stop(slot.index, { leave: false });
    return slot;
  }

  /** Starts a stopped or crashed cell again on its data dir and address (a new incarnation). */
  restart(slot: SimCellSlot | number): Promise<Cell> {
    return this.start(slot);
  }

  /** Cuts every link between the two groups (both ways) until heal(). */
  partition(a: (Cell | number)[], b: (Cell | number)[]): void {
    for (const x of a) for (const y of b) this.net.partition(this.slot(x).addr, this.slot(y).addr);
  }

  /** Restores the links cut by partition(); crashed cells stay cut off until restarted. */
  heal(): void {
    this.net.heal();
    for (const s of this.slots) if (!s.cell) this.net.isolate(s.addr);
  }

  /** Runs ms of simulated time. */
  run(ms: number): Promise<void> {
    return this.clock.run(ms);
  }

  /**
   * Runs simulated time until cond holds; throws (with the seed) after
   * msMax. cond is checked after every timer, or at most every checkEveryMs
   * of simulated time (for a costly check).
   */
  async until(cond: () => boolean | Promise<boolean>, msMax: number, what = 'condition', checkEveryMs = 0): Promise<void> {
    const from = this.clock.now();
    let checkedAt = -Infinity;
    const check = () => {
      if (this.clock.now() < checkedAt + checkEveryMs) return false;
      checkedAt = this.clock.now();
      return cond();
    };
    if (!(await this.clock.runUntil(check, msMax))) {
      throw new Error(`seed ${this.seed}: no ${what} within ${msMax} simulated ms (from ${from} to ${this.clock.now()}); CELLSYNC_SEED=${this.seed} replays it`);
    }
  }

  /** Runs simulated time until p settles. */
  settle<T>(p: Promise<T>, msMax = LIFECYCLE_MS_MAX): Promise<T> {
    return this.clock.runWhile(p, msMax);
  }

  /** A view of the swarm: the members as the first running cell sees them. */
  members(): Member[] {
    return this.cells[0]?.membership.members() ?? [];
  }

  /** True when every running cell sees every other running cell alive, in the role it has (a cell heard of second-hand is a stem until it speaks). */
  isConverged(): boolean {
    const live = this.cells;
    return live.every((c) =>
      live.every((o) => {
        const seen = c.membership.get(o.id);
        return o === c || (seen?.state === 'alive' && seen.role === o.membership.members()[0]!.role);
      }),
    );
  }

  /** The running cells that hold key. */
  holders(key: ChunkKey): Cell[] {
    return this.cells.filter((c) => c.store.has(key));
  }

  /** The R cells a key belongs on, as a cell sees the swarm (all cells agree once membership converged). */
  homes(key: ChunkKey, replicas = this.config.placement.replicas, view: Cell = this.cells[0]!): string[] {
    return this.placement(view, replicas)(key);
  }

  /** Where keys belong as one cell sees the swarm now (its view read once, for many keys). */
  placement(view: Cell = this.cells[0]!, replicas = this.config.placement.replicas): (key: ChunkKey) => string[] {
    const candidates = storageCandidates(view.membership.members(), this.config.placement.weightByCapacity);
    return (key) => replicaSet(key, candidates, replicas);
  }

  /** Stores a chunk as a client does: a CHUNK_PUT to each of its R home cells. */
  async putChunk(data: Buffer, replicas = this.config.placement.replicas): Promise<ChunkKey> {
    const key = chunkKeyOf(data);
    const byId = new Map(this.cells.map((c) => [c.id, c]));
    const homes = this.homes(key, replicas);
    const body = encodePut(key, data, { replicas, isManifest: false });
    await this.settle(Promise.all(homes.map((id) => this.client.request(byId.get(id)!.address, MessageType.CHUNK_PUT, body))));
    return key;
  }

  /** Random bytes from the swarm's seed. */
  bytes(n: number): Buffer {
    const b = Buffer.allocUnsafe(n);
    for (let i = 0; i < n; i++) b[i] = this.rng.int(256);
    return b;
  }

  /** Flips a byte of a cell's chunk file on disk (bit rot): the store finds out on its next read. */
  async corruptChunk(cell: Cell, key: ChunkKey): Promise<void> {
    const file = await chunkFile(cell.store.chunkDir, key);
    const bytes = await readFile(file);
    bytes[Math.floor(bytes.length / 2)]! ^= 0xff;
    await writeFile(file, bytes);
  }

  /** Another client on the network (a second writer), stopped at teardown. */
  newClient(): Endpoint {
    const e = new Endpoint(
      { clock: this.clock, rng: this.rng, transport: this.net.transport('10.0.255.1:0') },
      { id: hex(this.rng, 8), keys: new KeyRing([this.swarmKey]), wire: this.config.wire },
    );
    this.clients.push(e);
    return e;
  }

  /** Every event the running cells recorded, with the cell that recorded it. */
  events(): { by: string; type: string; cellId?: string; detail?: string }[] {
    return this.cells.flatMap((c) => c.events.recent().map((e) => ({ by: c.id, type: e.type, cellId: e.cellId, detail: e.detail })));
  }

  /** Stops every running cell and the client. */
  async close(): Promise<void> {
    for (const s of this.slots) if (s.cell) await this.stop(s.index).catch(() => undefined);
    for (const e of this.clients) await e.stop();
  }
}

/** Where a chunk lives on disk under a store's chunk dir (found by name, whatever the fan-out). */
async function chunkFile(chunkDir: string, key: ChunkKey): Promise<string> {
  const found = (await readdir(chunkDir, { recursive: true })).find((f) => path.basename(f) === key);
  if (!found) throw new Error(`no file for chunk ${key} under ${chunkDir}`);
  return path.join(chunkDir, found);
}

/** Where the cells' data dirs go: in memory when the machine has /dev/shm. */
const TMP_ROOT = existsSync('/dev/shm') ? '/dev/shm' : os.tmpdir();

/**
 * Starts `cells` cells on a simulated network, one after another (each
 * joining through the others), and a test client; teardown stops them all
 * and removes their data dirs. Membership has converged when it returns.
 */
export async function createSimSwarm(t: ExecutionContext, opts: SimSwarmOptions): Promise<SimSwarm> {
  const root = await mkdtemp(path.join(TMP_ROOT, 'cellsync-sim-'));
  const swarm = new SimSwarm(opts.seed, simConfig(opts.config), root);
  t.teardown(async () => {
    await swarm.close();
    await rm(root, { recursive: true, force: true });
  });
  const roleOf = (i: number) => (Array.isArray(opts.roles) ? opts.roles[i]! : (opts.roles ?? 'storage'));
  for (let i = 0; i < opts.cells; i++) await swarm.addSlot(roleOf(i));
  swarm.client = new Endpoint(
    { clock: swarm.clock, rng: swarm.rng, transport: swarm.net.transport('10.0.255.1:7400') },
    { id: hex(swarm.rng, 8), keys: new KeyRing([Buffer.from(swarm.swarmKey)]), wire: swarm.config.wire },
  );
  for (const slot of swarm.slots) await swarm.start(slot);
  await swarm.until(() => swarm.isConverged(), 30_000, 'membership convergence');
  return swarm;
}
