import type { MemberView } from '../client/index.js';

/** A cell of the demo's home, as swarm.json names it. */
export interface DemoCell {
  name: string;
  data: string;
  addr: string;
}

/** A quarantine the demo saw, and what became of it. */
export interface QuarantineSeen {
  cell: string;
  id: string;
  addr: string;
  /** When the demo first saw it quarantined (wall clock, ms). */
  seenAtMs: number;
  /** When `cell rehab` brought it back (wall clock, ms), or null; the error if it failed. */
  rehabilitatedAtMs: number | null;
  rehabError: string | null;
}

export interface RehabWatchInit {
  cells: DemoCell[];
  /** The members as a cell sees them now. */
  members: () => Promise<MemberView[]>;
  /** Runs `cellsync cell rehab` on a cell's data dir: null on success, else why it failed. */
  rehab: (cell: DemoCell) => Promise<string | null>;
  say: (line: string) => void;
  /** How long a quarantined cell stays so before the demo rehabilitates it, so that the dashboard shows it (ms). */
  rehabAfterMs: number;
  pollMs: number;
}

/**
 * The demo's operator: watches the members and rehabilitates every cell it
 * sees quarantined, as a person would with `cellsync cell rehab`. A cell it
 * rehabilitated is not taken up again until it has been seen alive (the
 * others still hold its old incarnation quarantined for a moment).
 */
export class RehabWatch {
  readonly seen: QuarantineSeen[] = [];
  private readonly busy = new Set<string>();
  private readonly waiting: Promise<void>[] = [];
  private stopped = false;
  private loop: Promise<void> | null = null;

  constructor(private readonly init: RehabWatchInit) {}

  start(): void {
    this.loop ??= this.run();
  }

  /** Rehabilitations still under way. */
  get pending(): number {
    return this.busy.size;
  }

  /** Stops watching; waits for rehabilitations under way to end. */
  async stop(): Promise<void> {
    this.stopped = true;
    await this.loop;
    await Promise.all(this.waiting);
  }

  private async run(): Promise<void> {
    const byAddr = new Map(this.init.cells.map((c) => [c.addr, c]));
    while (!this.stopped) {
      const members = await this.init.members().catch(() => [] as MemberView[]);
      for (const m of members) {
        const cell = byAddr.get(m.addr);
        if (!cell) continue;
        if (m.state === 'alive' && !this.busy.has(cell.name)) this.cleared.add(cell.name);
        if (m.state !== 'quarantined' || this.busy.has(cell.name) || !this.cleared.has(cell.name)) continue;
        this.cleared.delete(cell.name);
        this.busy.add(cell.name);
        const q: QuarantineSeen = { cell: cell.name, id: m.id, addr: m.addr, seenAtMs: Date.now(), rehabilitatedAtMs: null, rehabError: null };
        this.seen.push(q);
        this.init.say(`${cell.name} is quarantined: rehabilitating it in ${this.init.rehabAfterMs / 1000} s (cellsync cell rehab --data ${cell.data})`);
        this.waiting.push(this.rehabLater(cell, q));
      }
      await sleep(this.init.pollMs);
    }
  }

  /** Cells seen alive since their last rehabilitation (or ever): only those are taken up when seen quarantined. */
  private readonly cleared = new Set<string>();

  private async rehabLater(cell: DemoCell, q: QuarantineSeen): Promise<void> {
    await sleep(this.init.rehabAfterMs);
    const error = await this.init.rehab(cell).catch((err: Error) => err.message);
    if (error === null) {
      q.rehabilitatedAtMs = Date.now();
      this.init.say(`${cell.name} rehabilitated: a new incarnation, its store scrubbed in the background`);
    } else {
      q.rehabError = error;
      this.init.say(`${cell.name} not rehabilitated: ${error}`);
    }
    this.busy.delete(cell.name);
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
