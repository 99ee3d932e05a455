/** Something that happened in the swarm, as shown by status and the dashboard. */
export interface SwarmEvent {
  /** Wall-clock ms. */
  atMs: number;
  /** Past tense, kebab-case: member-died, chunk-corrupt, ... */
  type: string;
  /** The cell it is about. */
  cellId?: string;
  detail?: string;
}

/** A bounded ring of recent events: the oldest is forgotten first. */
export class EventLog {
  private readonly ring: SwarmEvent[] = [];
  private next = 0;
  /** Events recorded since start (including those already forgotten). */
  total = 0;

  constructor(private readonly capacity = 256) {}

  /** Called with every event as it is recorded (a cell's log file). */
  onRecord: ((e: SwarmEvent) => void) | null = null;

  record(e: SwarmEvent): void {
    this.total++;
    this.onRecord?.(e);
    if (this.ring.length < this.capacity) this.ring.push(e);
    else {
      this.ring[this.next] = e;
      this.next = (this.next + 1) % this.capacity;
    }
  }

  /** Oldest first. */
  recent(limit = this.capacity): SwarmEvent[] {
    const ordered = [...this.ring.slice(this.next), ...this.ring.slice(0, this.next)];
    return ordered.slice(Math.max(0, ordered.length - limit));
  }
}

/** Undoes one subscription (a handler or listener given to something the subscriber does not own). */
export type Unsubscribe = () => void;
