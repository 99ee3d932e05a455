import { MEMBERS_MAX, type Addr, type CellId, type Clock, type MembershipConfig, type Rng } from '../../core/index.js';
import { ACCUSERS_MAX, memberInfoOf, type MemberUpdate } from '../../wire/index.js';
import type { Member, MembershipEventType } from '../member.js';
import { PeerSet } from './peer-set.js';
import { Suspicion } from './suspicion.js';

export interface Entry {
  member: Member;
  /** Version of the member's self-description at its incarnation. */
  version: number;
  suspicion: Suspicion | null;
  /** When it was last told that we hold it suspect, dead or left, so that it refutes. */
  toldAtMs: number;
  /** The news last made of it while queued, kept while it still says the same (its encoding is cached with it), or null. */
  news: CachedUpdate | null;
}

/** An update and what it was made from: a change of any of these makes a new one. */
interface CachedUpdate {
  update: MemberUpdate;
  incarnation: number;
  version: number;
  state: Member['state'];
  accusers: number;
}

/** Why member news changed nothing (malformed messages are counted by the endpoint). */
export interface NewsCounters {
  /** News at a lower incarnation than known. */
  stale: number;
  /** A new member while the table is full. */
  tableFull: number;
}

export interface MemberTableHooks {
  /** News about `id` worth spreading (queued for gossip); urgent news goes first. */
  news(id: CellId, urgent?: boolean): void;
  /** A suspicion, death or leave: worth spreading at once. */
  urgent(): void;
  emit(type: MembershipEventType, member: Member): void;
  log(format: string, ...args: unknown[]): void;
}

/**
 * The other members and their states, changed by SWIM's precedence rules:
 * news is ordered by incarnation; at the same incarnation suspect beats
 * alive and dead or left beat both; a higher version of a member's
 * self-description replaces the older. Also the sets the protocol draws
 * from (alive and suspect peers, dead and left ones), the address index
 * (one address, one cell), quarantines and forgotten members. All bounded
 * by MEMBERS_MAX.
 */
export class MemberTable {
  private readonly entries = new Map<CellId, Entry>();
  /** The live member at each address: a new id there means the old one is gone. */
  private readonly byAddr = new Map<Addr, CellId>();
  /** Alive and suspect members: probed, asked to relay, gossiped to. */
  readonly peers: PeerSet;
  /** Dead and left members: one push-pull in two goes to one of them, so a healed partition is found again. */
  readonly gone: PeerSet;
  /** Quarantined members and the incarnation they were quarantined at. */
  private readonly quarantines = new Map<CellId, number>();
  /** Members retired by their operator (bounded like the table): second-hand news of them is ignored. */
  private readonly forgotten = new Set<CellId>();

  constructor(
    private readonly clock: Clock,
    rng: Rng,
    private readonly config: MembershipConfig,
    private readonly counters: NewsCounters,
    private readonly hooks: MemberTableHooks,
  ) {
    this.peers = new PeerSet(rng);
    this.gone = new PeerSet(rng);
  }

  get size(): number {
    return this.entries.size;
  }

  get(id: CellId): Entry | undefined {
    return this.entries.get(id);
  }

  /** The live member at `addr`, if any. */
  at(addr: Addr): Entry | undefined {
    const id = this.byAddr.get(addr);
    return id === undefined ? undefined : this.entries.get(id);
  }

  ids(): IterableIterator<CellId> {
    return this.entries.keys();
  }

  members(): IterableIterator<Entry> {
    return this.entries.values();
  }

  /** News about another member (a message, a push-pull, a JOIN answer); first-hand if the member itself said it. */
  apply(u: MemberUpdate, firstHand: boolean): void {
    if (this.forgotten.has(u.id)) {
      if (!firstHand) return;
      this.forgotten.delete(u.id); // it speaks again: not retired after all
    }
    const e = this.entries.get(u.id);
    if (!e) return this.add(u, firstHand);
    const m = e.member;
    if (u.incarnation < m.incarnation) {
      this.counters.stale++;
      return;
    }
    const higher = u.incarnation > m.incarnation;
    if (higher || u.version > e.version) this.adoptInfo(e, u);
    if (u.state === 'quarantined') return this.quarantine(u.id, u.incarnation);
    if (m.state === 'quarantined') {
      const q = this.quarantines.get(u.id);
      if (q !== undefined && u.incarnation <= q) return; // still quarantined: heard, but not trusted
      // Back with a higher incarnation: it scrubbed itself clean on restart.
      this.quarantines.delete(u.id);
      this.setState(e, 'alive', 'quarantine-lifted');
      if (u.state === 'alive') return;
    }
    switch (u.state) {
      case 'alive':
        if (higher && m.state !== 'alive') this.revive(e);
        return;
      case 'suspect':
        // Back from the dead at a higher incarnation, and suspected there.
        if (higher && (m.state === 'dead' || m.state === 'left')) this.revive(e);
        return this.suspect(e, u.accusers ?? []);
      case 'dead':
      case 'left':
        if (m.state === 'alive' || m.state === 'suspect' || (higher && m.state !== u.state)) this.die(e, u.state);
    }
  }

  quarantine(id: CellId, incarnation: number): void {
    const e = this.entries.get(id);
    if (e && e.member.incarnation > incarnation) return; // already back with a higher incarnation: stale news
    const known = this.quarantines.get(id);
    if (known !== undefined && known >= incarnation) return;
    this.quarantines.set(id, incarnation);
    if (e) this.setState(e, 'quarantined', 'member-quarantined');
  }

  isQuarantined(id: CellId): boolean {
    return this.quarantines.has(id);
  }

  /** Drops a dead or left member for good; false for any other. */
  forget(id: CellId): Entry | null {
    const e = this.entries.get(id);
    if (!e || (e.member.state !== 'dead' && e.member.state !== 'left')) return null;
    this.entries.delete(id);
    this.gone.delete(id);
    if (this.byAddr.get(e.member.addr) === id) this.byAddr.delete(e.member.addr);
    if (this.forgotten.size >= MEMBERS_MAX) this.forgotten.delete(this.forgotten.values().next().value!);
    this.forgotten.add(id);
    return e;
  }

  /** Suspects an alive member, or adds accusers to a suspect one; nothing for the dead, left or quarantined. */
  suspect(e: Entry, accusers: CellId[]): void {
    const m = e.member;
    if (m.state === 'suspect') {
      let news = false;
      for (const a of accusers) if (e.suspicion?.confirm(a)) news = true;
      if (news) this.hooks.news(m.id);
      return;
    }
    if (m.state !== 'alive') return;
    // Lifeguard: k independent accusers bring the timeout from max down to min (k = 0: too few members to confirm).
    const n = this.peers.size + 1;
    const expected = this.config.suspicionMult - 2;
    const k = n - 2 < expected ? 0 : expected;
    const minMs = this.config.suspicionMult * Math.max(1, Math.log10(n)) * this.config.probeIntervalMs;
    const maxMs = this.config.suspicionMaxTimeoutMult * minMs;
    e.suspicion?.cancel();
    e.suspicion = new Suspicion(this.clock, k, minMs, maxMs, accusers, () => {
      if (this.entries.get(m.id) === e && m.state === 'suspect') this.die(e, 'dead');
    });
    this.setState(e, 'suspect', 'member-suspected');
  }

  die(e: Entry, state: 'dead' | 'left'): void {
    const m = e.member;
    this.peers.delete(m.id);
    this.gone.add(m.id);
    if (this.byAddr.get(m.addr) === m.id) this.byAddr.delete(m.addr);
    this.setState(e, state, state === 'dead' ? 'member-died' : 'member-left');
  }

  revive(e: Entry): void {
    this.peers.add(e.member.id);
    this.gone.delete(e.member.id);
    if (!this.byAddr.has(e.member.addr)) this.byAddr.set(e.member.addr, e.member.id);
    this.setState(e, 'alive', 'member-recovered');
  }

  /**
   * The news to send about a member: its current entry. The same object
   * while the entry says the same (incarnation, version, state, accusers),
   * so that its encoding is made once however often it is sent. Kept only
   * if `keep` (news queued for gossip, until dropNews): a push-pull's whole
   * table is not kept, or every cell would hold a second copy of it.
   */
  updateOf(id: CellId, keep = true): MemberUpdate | null {
    const e = this.entries.get(id);
    if (!e) return null;
    const m = e.member;
    const accusers = m.state === 'suspect' && e.suspicion ? e.suspicion.accusersCount : 0;
    const c = e.news;
    if (c && c.incarnation === m.incarnation && c.version === e.version && c.state === m.state && c.accusers === accusers) return c.update;
    const update: MemberUpdate = { ...memberInfoOf(m), state: m.state, version: e.version };
    if (m.state === 'suspect' && e.suspicion) update.accusers = e.suspicion.accusersList.slice(0, ACCUSERS_MAX);
    if (keep) e.news = { update, incarnation: m.incarnation, version: e.version, state: m.state, accusers };
    return update;
  }

  /** The news about `id` is no longer queued: its update and encoding go. */
  dropNews(id: CellId): void {
    const e = this.entries.get(id);
    if (e) e.news = null;
  }

  /** Stops every suspicion timer (the detector stops). */
  cancelSuspicions(): void {
    for (const e of this.entries.values()) {
      e.suspicion?.cancel();
      e.suspicion = null;
    }
  }

  /** A member not known yet. */
  private add(u: MemberUpdate, firstHand: boolean): void {
    if (this.entries.size >= MEMBERS_MAX) {
      this.counters.tableFull++;
      return;
    }
    const now = this.clock.now();
    const q = this.quarantines.get(u.id);
    const quarantined = u.state === 'quarantined' || (q !== undefined && u.incarnation <= q);
    const state = quarantined ? 'quarantined' : u.state === 'dead' || u.state === 'left' ? u.state : 'alive';
    const e: Entry = { member: { ...memberInfoOf(u), state, lastHeardAtMs: now, stateSinceMs: now }, version: u.version, suspicion: null, toldAtMs: -Infinity, news: null };
    this.entries.set(u.id, e);
    this.hooks.news(u.id);
    if (u.state === 'quarantined') this.quarantine(u.id, u.incarnation);
    if (state !== 'alive') {
      // Known gone (a JOIN answer, gossip): no event, nothing to wait out again.
      if (state !== 'quarantined') this.gone.add(u.id);
      return;
    }
    this.peers.add(u.id);
    this.hooks.emit('member-joined', e.member);
    if (firstHand) this.replacedAt(e);
    else if (!this.byAddr.has(u.addr)) this.byAddr.set(u.addr, u.id);
    if (u.state === 'suspect') this.suspect(e, u.accusers ?? []);
  }

  /** What a member says of itself, newer than what we had. */
  private adoptInfo(e: Entry, u: MemberUpdate): void {
    const m = e.member;
    const roleBefore = m.role;
    if (m.addr !== u.addr && this.byAddr.get(m.addr) === m.id) this.byAddr.delete(m.addr);
    Object.assign(m, memberInfoOf(u));
    e.version = u.version;
    if (m.state !== 'dead' && m.state !== 'left') this.byAddr.set(m.addr, m.id);
    this.hooks.news(m.id);
    if (roleBefore !== m.role) this.hooks.emit('role-changed', m);
  }

  /**
   * One address serves one cell: a new cell speaking from a member's address
   * (its data directory was wiped, so it came back with a new id) means that
   * member is gone. Dead at once: chunks sent to that address would reach a
   * cell that is not their home. Only first-hand: late second-hand news of
   * the old cell must not kill the new one.
   */
  private replacedAt(newcomer: Entry): void {
    const { addr, id } = newcomer.member;
    const before = this.byAddr.get(addr);
    this.byAddr.set(addr, id);
    const old = before === undefined || before === id ? undefined : this.entries.get(before);
    if (!old || old.member.state === 'dead' || old.member.state === 'quarantined' || old.member.state === 'left') return;
    this.hooks.log('%k replaced at %s by %k', old.member.id, addr, id);
    this.die(old, 'dead');
  }

  private setState(e: Entry, state: Member['state'], event: MembershipEventType): void {
    const m = e.member;
    m.state = state;
    m.stateSinceMs = this.clock.now();
    if (state !== 'suspect') {
      e.suspicion?.cancel();
      e.suspicion = null;
    }
    if (state === 'quarantined') {
      this.peers.delete(m.id);
      this.gone.delete(m.id);
    }
    // A suspicion, a death or a leave is spread at once (not at the next gossip tick) and before other news: each
    // hop then costs a round trip, not a gossip interval, and a death is known everywhere in milliseconds.
    const urgent = state === 'suspect' || state === 'dead' || state === 'left';
    this.hooks.news(m.id, urgent);
    if (urgent) this.hooks.urgent();
    this.hooks.emit(event, m);
  }
}
