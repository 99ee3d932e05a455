import { CellError, type Addr, type Clock, type WireConfig } from '../core/index.js';
import type { WireCounters } from './counters.js';
import { RttEstimator } from './rtt.js';

/** A peer not asked anything for this long is forgotten (its RTT estimate starts afresh). */
const PEER_IDLE_FORGET_MS = 120_000;

export interface PeerState {
  rtt: RttEstimator;
  inflight: number;
  lastUsedMs: number;
}

interface Waiter {
  peer: Addr;
  go: () => void;
}

/**
 * Outgoing requests' accounting per peer: the RTT estimate, in-flight slots
 * (per peer and in total, from the wire config), and a bounded queue of
 * requests waiting for a slot. A full queue refuses with BUSY.
 */
export class Peers {
  private readonly peers = new Map<Addr, PeerState>();
  private readonly waiting: Waiter[] = [];
  private readonly waitingPerPeer = new Map<Addr, number>();
  private inflightTotal = 0;

  constructor(private readonly clock: Clock, private readonly wire: WireConfig, private readonly counters: WireCounters) {}

  get(addr: Addr): PeerState {
    let p = this.peers.get(addr);
    if (!p) {
      p = { rtt: new RttEstimator(this.wire), inflight: 0, lastUsedMs: this.clock.now() };
      this.peers.set(addr, p);
    }
    return p;
  }

  /** Smoothed RTT to a peer in ms, if measured. */
  srttOf(addr: Addr): number | null {
    return this.peers.get(addr)?.rtt.srtt ?? null;
  }

  /** Takes an in-flight slot for the peer now, or queues for one (bounded). */
  acquire(to: Addr): Promise<void> {
    const peer = this.get(to);
    if (peer.inflight < this.wire.inflightPerPeerMax && this.inflightTotal < this.wire.inflightTotalMax) {
      this.take(peer);
      return Promise.resolve();
    }
    const queued = this.waitingPerPeer.get(to) ?? 0;
    if (queued >= this.wire.peerQueueMax) {
      this.counters.busy++;
      return Promise.reject(CellError.BUSY(`queue to ${to} is full`));
    }
    this.waitingPerPeer.set(to, queued + 1);
    return new Promise<void>((resolve) => this.waiting.push({ peer: to, go: resolve }));
  }

  /** Gives a slot back and hands a freed one to the first waiter whose peer has room. */
  release(to: Addr): void {
    const peer = this.get(to);
    peer.inflight--;
    this.inflightTotal--;
    peer.lastUsedMs = this.clock.now();
    for (let i = 0; i < this.waiting.length && this.inflightTotal < this.wire.inflightTotalMax; i++) {
      const w = this.waiting[i]!;
      const p = this.get(w.peer);
      if (p.inflight < this.wire.inflightPerPeerMax) {
        this.waiting.splice(i, 1);
        this.take(p);
        const n = (this.waitingPerPeer.get(w.peer) ?? 1) - 1;
        if (n > 0) this.waitingPerPeer.set(w.peer, n);
        else this.waitingPerPeer.delete(w.peer);
        w.go();
        return;
      }
    }
  }

  /** On stop: hands each waiter a slot so it can run, see STOPPED, and give the slot back. */
  wakeAll(): void {
    for (const w of this.waiting.splice(0)) {
      this.take(this.get(w.peer));
      w.go();
    }
    this.waitingPerPeer.clear();
  }

  /** Forgets idle peers: the table stays bounded in time. */
  sweep(nowMs: number): void {
    for (const [addr, p] of this.peers) {
      if (p.inflight === 0 && !this.waitingPerPeer.has(addr) && nowMs - p.lastUsedMs > PEER_IDLE_FORGET_MS) this.peers.delete(addr);
    }
  }

  private take(peer: PeerState): void {
    peer.inflight++;
    this.inflightTotal++;
  }
}
