import type { StoreStats } from '../store/index.js';
import type { WireCounters } from '../rpc/index.js';
import type { Member } from '../membership/index.js';
import type { SwarmEvent } from '../core/index.js';
import type { HealStats } from '../heal/index.js';
import type { ScrubStats } from '../immune/index.js';

/** The STATUS answer: this cell's view of the swarm, its store and its wire counters. */
export interface CellStatus {
  id: string;
  addr: string;
  pid: number;
  incarnation: number;
  startedAtMs: number;
  members: (Omit<Member, 'lastHeardAtMs' | 'stateSinceMs'> & { lastHeardMs: number })[];
  store: StoreStats & { records: number };
  heal: HealStats;
  immune: ScrubStats;
  wire: WireCounters;
  events: SwarmEvent[];
}
