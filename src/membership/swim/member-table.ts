import { MEMBERS_MAX, type Addr, type CellId, type Clock, type MembershipConfig, type Rng } from '../../core/index.js';
import { ACCUSERS_MAX, MEMBER_STATES, type MemberInfo, type MemberState, type MemberUpdate } from '../../wire/index.js';
import type { Member, MembershipEventType } from '../member.js';
import { MemberIds, stateCode, type Described } from '../member-ids.js';
import { PeerSet } from './peer-set.js';
import { TableDigest } from './table-digest.js';
import { Suspicion } from './suspicion.js';

/** An update and what it was made from: a change of any of these makes a new one. */
interface CachedUpdate {
  update: MemberUpdate;
  info: Described;
  state: MemberState;
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
  emit(type: MembershipEventType, member: () => Member): void;
  log(format: string, ...args: unknown[]): void;
}

/** The state byte of a member not in the table. */
const NOT_HELD = 0;

/**
 * The other members and their states, changed by SWIM's precedence rules:
 * news is ordered by incarnation; at the same incarnation suspect beats
 * alive and dead or left beat both; a higher version of a member's
 * self-description replaces the older. Also the sets the protocol draws
 * from (alive and suspect peers, dead and left ones), who is at each
 * address (one address, one cell), quarantines and forgotten members. All
 * bounded by MEMBERS_MAX.
 *
 * Members are indices of MemberIds, their fields typed arrays (a state
 * byte, two times) and a shared description: about 30 bytes a member, so
 * that a simulator holds 10,000 tables of 10,000. Suspicions, news and
 * "told" times are rare and kept in maps.
 */
export class MemberTable {
  private infos: (Described | undefined)[] = [];
  private states = new Uint8Array(0);
  private heardMs = new Float64Array(0);
  private sinceMs = new Float64Array(0);
  private count = 0;
  /** A digest of every member's id, incarnation, version and state: two tables that hold the same have the same one. */
  readonly digest = new TableDigest();
  private readonly suspicions = new Map<number, Suspicion>();
  /** When a member was last told that we hold it suspect, dead or left, so that it refutes. */
  private readonly toldMs = new Map<number, number>();
  /** The news last made of a member while queued, kept while it still says the same (its encoding is cached with it). */
  private readonly news = new Map<number, CachedUpdate>();
  /** Alive and suspect members: probed, asked to relay, gossiped to. */
  readonly peers: PeerSet;
  /** Dead and left members: one push-pull in two goes to one of them, so a healed partition is found again. */
  readonly gone: PeerSet;
  /** Quarantined members and the incarnation they were quarantined at. */
  private readonly quarantines = new Map<CellId, number>();
  /** Members retired by their operator (bounded like the table): second-hand news of them is ignored. */
  private readonly forgotten = new Set<CellId>();
  /**
   * Members held left only because this cell remembered them at its last
   * orderly stop (recall), not heard of since: an assumption, not news. Never
   * sent, not in the digest (a stale "left" would override the member alive
   * elsewhere), and replaced by the first news of them from anyone.
   */
  private readonly assumed = new Set<number>();

  constructor(
    private readonly clock: Clock,
    rng: Rng,
    private readonly config: MembershipConfig,
    private readonly counters: NewsCounters,
    private readonly hooks: MemberTableHooks,
    readonly ids: MemberIds = new MemberIds(),
  ) {
    this.peers = new PeerSet(rng);
    this.gone = new PeerSet(rng);
  }

  get size(): number {
    return this.count;
  }

  /** Members held whose digest bucket, folded to `count` buckets, is in `buckets` (those only assumed left are not the table's to tell). */
  *indicesIn(buckets: ReadonlySet<number>, count: number): IterableIterator<number> {
    for (const i of this.indices()) if (!this.assumed.has(i) && buckets.has(this.infos[i]!.bucket % count)) yield i;
  }

  /** True for a member held left only because this cell remembered it (see recall). */
  isAssumed(i: number): boolean {
    return this.assumed.has(i);
  }

  /** The index of `id` if this table holds it, else -1. */
  indexOf(id: CellId): number {
    const i = this.ids.find(id);
    return i !== undefined && this.holds(i) ? i : -1;
  }

  holds(i: number): boolean {
    return i < this.states.length && this.states[i] !== NOT_HELD;
  }

  stateOf(i: number): MemberState {
    return MEMBER_STATES[this.states[i]! - 1]!;
  }

  infoOf(i: number): Described {
    return this.infos[i]!;
  }

  addrOf(i: number): Addr {
    return this.infos[i]!.addr;
  }

  idOf(i: number): CellId {
    return this.infos[i]!.id;
  }

  /** The member as the rest of the cell sees it (a new object). */
  member(i: number): Member {
    const { id, addr, incarnation, role, pid, chunks, bytes, capacityBytes, intent, intentAtMs } = this.infos[i]!;
    const state = this.stateOf(i);
    return { id, addr, incarnation, role, pid, chunks, bytes, capacityBytes, intent, intentAtMs, state, lastHeardAtMs: this.heardMs[i]!, stateSinceMs: this.sinceMs[i]! };
  }

  /** Every member held, in index order. */
  *indices(): IterableIterator<number> {
    for (let i = 0; i < this.states.length; i++) if (this.states[i] !== NOT_HELD) yield i;
  }

  heard(i: number, nowMs: number): void {
    this.heardMs[i] = nowMs;
  }

  toldAtMs(i: number): number {
    return this.toldMs.get(i) ?? -Infinity;
  }

  setToldAtMs(i: number, ms: number): void {
    this.toldMs.set(i, ms);
  }

  /** The member spoke at a higher incarnation than held: what it says of itself is the same, at that incarnation. */
  setIncarnation(i: number, incarnation: number): void {
    const info = this.infos[i]!;
    this.setEntry(i, this.ids.describe(i, { ...info, incarnation }, info.version), this.states[i]!);
  }

  /** The live (alive or suspect) member at `addr`, or -1. */
  at(addr: Addr): number {
    for (const i of this.ids.claimants(addr)) if (this.holds(i) && this.isLive(i) && this.infos[i]!.addr === addr) return i;
    return -1;
  }

  /**
   * Members held alive from the start, without news or events (a swarm whose
   * members are all known, as a simulator boots one): one pass, nothing
   * allocated per member, as 10,000 tables of 10,000 are filled at once.
   */
  seed(infos: readonly MemberInfo[], except: CellId): void {
    this.peers.reserve(this.peers.size + infos.length, this.ids.size + infos.length);
    this.holdQuietly(infos, except, 'alive', this.peers);
  }

  /**
   * Members this cell knew when it last stopped in order: held left (away,
   * expected back: neither dead nor alive) until anyone says otherwise,
   * without news or events.
   */
  recall(infos: readonly MemberInfo[], except: CellId): void {
    this.holdQuietly(infos, except, 'left', this.gone);
  }

  /** Takes in members not held yet, in `state` and into `set`, without news or events; those recalled left are assumed. */
  private holdQuietly(infos: readonly MemberInfo[], except: CellId, state: 'alive' | 'left', set: PeerSet): void {
    const code = stateCode(state);
    const now = this.clock.now();
    for (const info of infos) {
      if (info.id === except || this.count >= MEMBERS_MAX) continue;
      const i = this.ids.hold(info.id);
      if (this.holds(i)) {
        this.ids.release(i);
        continue;
      }
      this.ensure(i);
      if (state === 'left') this.assumed.add(i); // before setEntry: an assumed member is outside the digest
      this.setEntry(i, this.ids.describe(i, info, 0), code);
      this.heardMs[i] = now;
      this.sinceMs[i] = now;
      this.count++;
      set.add(i);
    }
  }

  /** News about another member (a message, a push-pull, a JOIN answer); first-hand if the member itself said it. */
  apply(u: MemberUpdate, firstHand: boolean): void {
    if (this.forgotten.has(u.id)) {
      if (!firstHand) return;
      this.forgotten.delete(u.id); // it speaks again: not retired after all
    }
    const i = this.indexOf(u.id);
    if (i < 0) return this.add(u, firstHand);
    const known = this.infos[i]!;
    if (u.incarnation < known.incarnation) {
      this.counters.stale++;
      return;
    }
    if (this.assumed.has(i)) return this.heardOf(i, u);
    const higher = u.incarnation > known.incarnation;
    if (higher || u.version > known.version) this.adoptInfo(i, u);
    if (u.state === 'quarantined') return this.quarantine(u.id, u.incarnation);
    let state = this.stateOf(i);
    if (state === 'quarantined') {
      const q = this.quarantines.get(u.id);
      if (q !== undefined && u.incarnation <= q) return; // still quarantined: heard, but not trusted
      // Back with a higher incarnation: it scrubbed itself clean on restart.
      this.quarantines.delete(u.id);
      this.setState(i, 'alive', 'quarantine-lifted');
      if (u.state === 'alive') return;
      state = 'alive';
    }
    switch (u.state) {
      case 'alive':
        if (higher && state !== 'alive') this.revive(i);
        return;
      case 'suspect':
        // Back from the dead at a higher incarnation, and suspected there.
        if (higher && (state === 'dead' || state === 'left')) this.revive(i);
        return this.suspect(i, u.accusers ?? []);
      case 'dead':
      case 'left':
        if (state === 'alive' || state === 'suspect' || (higher && state !== u.state)) this.die(i, u.state);
    }
  }

  quarantine(id: CellId, incarnation: number): void {
    const i = this.indexOf(id);
    if (i >= 0 && this.infos[i]!.incarnation > incarnation) return; // already back with a higher incarnation: stale news
    const known = this.quarantines.get(id);
    if (known !== undefined && known >= incarnation) return;
    this.quarantines.set(id, incarnation);
    if (i >= 0) this.setState(i, 'quarantined', 'member-quarantined');
  }

  isQuarantined(id: CellId): boolean {
    return this.quarantines.has(id);
  }

  /** Drops a dead or left member for good; returns it, or null for any other. */
  forget(id: CellId): Member | null {
    const i = this.indexOf(id);
    if (i < 0) return null;
    const state = this.stateOf(i);
    if (state !== 'dead' && state !== 'left') return null;
    const m = this.member(i);
    this.gone.delete(i);
    this.news.delete(i);
    this.toldMs.delete(i);
    this.setEntry(i, undefined, NOT_HELD);
    this.assumed.delete(i);
    this.count--;
    this.ids.release(i);
    if (this.forgotten.size >= MEMBERS_MAX) this.forgotten.delete(this.forgotten.values().next().value!);
    this.forgotten.add(id);
    return m;
  }

  /** Suspects an alive member, or adds accusers to a suspect one; nothing for the dead, left or quarantined. */
  suspect(i: number, accusers: readonly CellId[]): void {
    const state = this.stateOf(i);
    if (state === 'suspect') {
      const s = this.suspicions.get(i);
      let news = false;
      for (const a of accusers) if (s?.confirm(a)) news = true;
      if (news) this.hooks.news(this.idOf(i));
      return;
    }
    if (state !== 'alive') return;
    // Lifeguard: k independent accusers bring the timeout from max down to min (k = 0: too few members to confirm).
    const n = this.peers.size + 1;
    const expected = this.config.suspicionMult - 2;
    const k = n - 2 < expected ? 0 : expected;
    const minMs = this.config.suspicionMult * Math.max(1, Math.log10(n)) * this.config.probeIntervalMs;
    const maxMs = this.config.suspicionMaxTimeoutMult * minMs;
    this.suspicions.get(i)?.cancel();
    const id = this.idOf(i);
    const s = new Suspicion(this.clock, k, minMs, maxMs, accusers, () => {
      if (this.suspicions.get(i) === s && this.indexOf(id) === i && this.stateOf(i) === 'suspect') this.die(i, 'dead');
    });
    this.suspicions.set(i, s);
    this.setState(i, 'suspect', 'member-suspected');
  }

  die(i: number, state: 'dead' | 'left'): void {
    this.peers.delete(i);
    this.gone.add(i);
    this.setState(i, state, state === 'dead' ? 'member-died' : 'member-left');
  }

  revive(i: number): void {
    this.peers.add(i);
    this.gone.delete(i);
    this.setState(i, 'alive', 'member-recovered');
  }

  /**
   * The news to send about member `i`: its current entry. The same object
   * while the entry says the same (description, state, accusers), so that
   * its encoding is made once however often it is sent. Kept only if `keep`
   * (news queued for gossip, until dropNews): a push-pull's whole table is
   * not kept, or every cell would hold a second copy of it.
   */
  updateOf(i: number, keep = true): MemberUpdate {
    const info = this.infos[i]!;
    const state = this.stateOf(i);
    const suspicion = state === 'suspect' ? this.suspicions.get(i) : undefined;
    const accusers = suspicion ? suspicion.accusersCount : 0;
    const c = this.news.get(i);
    if (c && c.info === info && c.state === state && c.accusers === accusers) return c.update;
    const { id, addr, incarnation, role, pid, chunks, bytes, capacityBytes, intent, intentAtMs, version } = info;
    const update: MemberUpdate = { id, addr, incarnation, role, pid, chunks, bytes, capacityBytes, intent, intentAtMs, state, version };
    if (suspicion) update.accusers = suspicion.accusersList.slice(0, ACCUSERS_MAX);
    if (keep) this.news.set(i, { update, info, state, accusers });
    return update;
  }

  /** The news about `id` is no longer queued: its update and encoding go. */
  dropNews(id: CellId): void {
    const i = this.ids.find(id);
    if (i !== undefined) this.news.delete(i);
  }

  /** Stops every suspicion timer (the detector stops). */
  cancelSuspicions(): void {
    for (const s of this.suspicions.values()) s.cancel();
    this.suspicions.clear();
  }

  private isLive(i: number): boolean {
    const state = this.stateOf(i);
    return state === 'alive' || state === 'suspect';
  }

  /** Takes member `id` into the table (its index held) in `state`. */
  private hold(id: CellId, info: MemberInfo, version: number, state: MemberState): number {
    const i = this.ids.hold(id);
    this.ensure(i);
    const now = this.clock.now();
    this.setEntry(i, this.ids.describe(i, info, version), stateCode(state));
    this.heardMs[i] = now;
    this.sinceMs[i] = now;
    this.count++;
    return i;
  }

  /** Room for index i in every per-member array (sized to every index handed out: a shared MemberIds grows once). */
  private ensure(i: number): void {
    if (i < this.states.length) return;
    const size = Math.max(i + 1, this.ids.size, Math.ceil(this.states.length * 1.25));
    const states = new Uint8Array(size);
    states.set(this.states);
    this.states = states;
    const heard = new Float64Array(size);
    heard.set(this.heardMs);
    this.heardMs = heard;
    const since = new Float64Array(size);
    since.set(this.sinceMs);
    this.sinceMs = since;
    while (this.infos.length < size) this.infos.push(undefined);
  }

  /** A member not known yet. */
  private add(u: MemberUpdate, firstHand: boolean): void {
    if (this.count >= MEMBERS_MAX) {
      this.counters.tableFull++;
      return;
    }
    const q = this.quarantines.get(u.id);
    const quarantined = u.state === 'quarantined' || (q !== undefined && u.incarnation <= q);
    const state = quarantined ? 'quarantined' : u.state === 'dead' || u.state === 'left' ? u.state : 'alive';
    const i = this.hold(u.id, u, u.version, state);
    this.hooks.news(u.id);
    if (u.state === 'quarantined') this.quarantine(u.id, u.incarnation);
    if (state !== 'alive') {
      // Known gone (a JOIN answer, gossip): no event, nothing to wait out again.
      if (state !== 'quarantined') this.gone.add(i);
      return;
    }
    this.peers.add(i);
    this.hooks.emit('member-joined', () => this.member(i));
    if (firstHand) this.replacedAt(i);
    if (u.state === 'suspect') this.suspect(i, u.accusers ?? []);
  }

  /** The first news of a member only assumed left: taken as it comes, whatever its state. */
  private heardOf(i: number, u: MemberUpdate): void {
    this.assumed.delete(i);
    this.xorShare(this.infos[i]!, this.states[i]!); // in the digest from now on
    this.adoptInfo(i, u);
    switch (u.state) {
      case 'quarantined':
        return this.quarantine(u.id, u.incarnation);
      case 'dead':
        return this.setState(i, 'dead', 'member-died');
      case 'left':
        return;
      default:
        this.revive(i);
        if (u.state === 'suspect') this.suspect(i, u.accusers ?? []);
    }
  }

  /** What a member says of itself, newer than what we had. */
  private adoptInfo(i: number, u: MemberUpdate): void {
    const roleBefore = this.infos[i]!.role;
    this.setEntry(i, this.ids.describe(i, u, u.version), this.states[i]!);
    this.hooks.news(u.id);
    if (roleBefore !== u.role) this.hooks.emit('role-changed', () => this.member(i));
  }

  /**
   * One address serves one cell: a new cell speaking from a member's address
   * (its data directory was wiped, so it came back with a new id) means that
   * member is gone. Dead at once: chunks sent to that address would reach a
   * cell that is not their home. Only first-hand: late second-hand news of
   * the old cell must not kill the new one.
   */
  private replacedAt(newcomer: number): void {
    const addr = this.addrOf(newcomer);
    for (const old of [...this.ids.claimants(addr)]) {
      if (old === newcomer || !this.holds(old) || !this.isLive(old) || this.addrOf(old) !== addr) continue;
      this.hooks.log('%k replaced at %s by %k', this.idOf(old), addr, this.idOf(newcomer));
      this.die(old, 'dead');
    }
  }

  /** Sets member i's description and state byte, keeping the digest (of all but assumed members): the old share out, the new one in. */
  private setEntry(i: number, info: Described | undefined, state: number): void {
    const inDigest = !this.assumed.has(i);
    if (inDigest && this.states[i] !== NOT_HELD) this.xorShare(this.infos[i]!, this.states[i]!);
    this.infos[i] = info;
    this.states[i] = state;
    if (inDigest && state !== NOT_HELD) this.xorShare(info!, state);
  }

  private xorShare(info: Described, state: number): void {
    this.digest.toggle(info.bucket, info.shares, state);
  }

  private setState(i: number, state: MemberState, event: MembershipEventType): void {
    this.setEntry(i, this.infos[i], stateCode(state));
    this.sinceMs[i] = this.clock.now();
    if (state !== 'suspect') {
      this.suspicions.get(i)?.cancel();
      this.suspicions.delete(i);
    }
    if (state === 'quarantined') {
      this.peers.delete(i);
      this.gone.delete(i);
    }
    // A suspicion, a death or a leave is spread at once (not at the next gossip tick) and before other news: each
    // hop then costs a round trip, not a gossip interval, and a death is known everywhere in milliseconds.
    const urgent = state === 'suspect' || state === 'dead' || state === 'left';
    this.hooks.news(this.idOf(i), urgent);
    if (urgent) this.hooks.urgent();
    this.hooks.emit(event, () => this.member(i));
  }
}
