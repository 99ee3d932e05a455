import { MEMBERS_MAX, logger, type Addr, type CellId, type Clock, type MembershipConfig, type Rng, type TimerHandle, type Unsubscribe } from '../../core/index.js';
import type { Endpoint, Incoming } from '../../rpc/index.js';
import { Messages, memberInfoOf, memberUpdateOf, type MemberUpdate, type Piggyback, type ProbeRequestBody } from '../../wire/index.js';
import type { Member, MemberInfo, Membership, MembershipEvent, MembershipEventType } from '../member.js';
import { Awareness } from './awareness.js';
import { BroadcastQueue } from './broadcasts.js';
import { PeerSet } from './peer-set.js';
import { Suspicion } from './suspicion.js';

export interface SwimComponents {
  clock: Clock;
  rng: Rng;
  endpoint: Endpoint;
}

export interface SwimInit {
  self: MemberInfo;
  /** Addresses to join through; any one live seed teaches us the whole swarm. */
  seeds: Addr[];
  config: MembershipConfig;
  logPrefix?: string;
}

/** Indirect probes this cell runs for others at once; more are ignored (the asker falls back on its other relays). */
const RELAYS_MAX = 256;
/** What a member says of itself that changes with every write: gossiped at a bounded rate. */
const USAGE_FIELDS = new Set(['chunks', 'bytes', 'capacityBytes']);
/** Members past which the push-pull interval grows with log N (memberlist's pushPullScale). */
const PUSH_PULL_SCALE_THRESHOLD = 32;

interface Entry {
  member: Member;
  /** Version of the member's self-description at its incarnation. */
  version: number;
  suspicion: Suspicion | null;
}

interface PendingProbe {
  target: CellId;
  acked: boolean;
  nacks: number;
  relays: number;
}

interface Relay {
  origin: Addr;
  originSeq: number;
  timer: TimerHandle;
}

/** Why member news was dropped (malformed messages are counted by the endpoint). */
export interface SwimCounters {
  /** News at a lower incarnation than known: changes nothing. */
  stale: number;
  /** A new member while the table is full. */
  tableFull: number;
  /** Unreachable reports that made a member suspect at once. */
  evidence: number;
  /** Times this cell refuted news of its own suspicion or death. */
  refuted: number;
}

/**
 * The SWIM failure detector with Lifeguard (docs/decisions/0031): each
 * period one member is probed (shuffled round-robin); no ack within the
 * probe timeout: k other members probe it for us; still nothing: suspect.
 * A suspect refutes by gossiping itself alive at a higher incarnation, or
 * is dead when its suspicion times out (sooner with more accusers). News
 * rides on probes, acks and a small periodic gossip; a periodic push-pull
 * of whole tables repairs whatever gossip missed. Work per message is O(1)
 * in the swarm's size; only push-pull and JOIN are O(N).
 */
export class SwimMembership implements Membership {
  readonly counters: SwimCounters = { stale: 0, tableFull: 0, evidence: 0, refuted: 0 };
  private readonly table = new Map<CellId, Entry>();
  /** The live member at each address: a new id there means the old one is gone. */
  private readonly byAddr = new Map<Addr, CellId>();
  /** Alive and suspect members: probed, asked to relay, gossiped to. */
  private readonly peers: PeerSet;
  /** Dead and left members: one push-pull in two goes to one of them, so a healed partition is found again. */
  private readonly gone: PeerSet;
  private readonly queue: BroadcastQueue;
  private readonly awareness: Awareness;
  /** Quarantined members and the incarnation they were quarantined at. */
  private readonly quarantines = new Map<CellId, number>();
  /** Members retired by their operator (bounded like the table): second-hand news of them is ignored. */
  private readonly forgotten = new Set<CellId>();
  private readonly pending = new Map<number, PendingProbe>();
  private readonly relays = new Map<number, Relay>();
  private readonly listeners: ((e: MembershipEvent) => void)[] = [];
  private readonly timers = new Set<TimerHandle>();
  private readonly subscriptions: Unsubscribe[] = [];
  private self: MemberInfo;
  private selfVersion = 0;
  /** A usage change not yet gossiped (rate-limited), and when usage last was. */
  private usageDirty = false;
  private usageGossipedAtMs = -Infinity;
  /** Told by the swarm that it is quarantined: never refute news of itself again in this process. */
  private selfQuarantined = false;
  private nextSeq = 1;
  private probeTimer: TimerHandle | null = null;
  private current: { seq: number; probe: PendingProbe } | null = null;
  private pushPullRunning = false;
  private pushPullToGone = false;
  private leaving = false;
  private started = false;
  private readonly log;

  constructor(private readonly components: SwimComponents, private readonly init: SwimInit) {
    this.self = { ...init.self };
    this.peers = new PeerSet(components.rng);
    this.gone = new PeerSet(components.rng);
    this.queue = new BroadcastQueue(init.config.gossipQueueMax);
    this.awareness = new Awareness(init.config.awarenessMax);
    this.log = logger('membership', init.logPrefix);
  }

  private get endpoint(): Endpoint {
    return this.components.endpoint;
  }

  private get cfg(): MembershipConfig {
    return this.init.config;
  }

  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    this.leaving = false;
    const { endpoint } = this;
    this.subscriptions.push(
      endpoint.onNotice(Messages.PROBE, (body, msg) => {
        if (!this.received(body, msg)) return;
        endpoint.notice(msg.from, Messages.PROBE_ACK, this.piggyback({ seq: body.seq, inc: this.self.incarnation, nack: false }));
      }),
      endpoint.onNotice(Messages.PROBE_ACK, (body, msg) => {
        if (this.received(body, msg)) this.onAck(body.seq, body.nack);
      }),
      endpoint.onNotice(Messages.PROBE_REQ, (body, msg) => {
        if (this.received(body, msg)) this.relay(body.seq, body.target, body.targetAddr, msg.from);
      }),
      endpoint.onNotice(Messages.GOSSIP, (body, msg) => void this.received(body, msg)),
      endpoint.serve(Messages.PUSH_PULL, (table, req) => {
        this.merge(table, req.sender);
        return this.tableUpdates();
      }),
      endpoint.serve(Messages.JOIN, (info, req) => {
        if (info.id !== req.sender) throw new Error('bad join');
        this.apply({ ...memberInfoOf(info), state: 'alive', version: 0 }, true);
        // Dead members are listed as dead: a joiner taking them for alive would wait out their death again,
        // and one not told of them at all would not know the swarm is missing a cell.
        return this.members().map((m) => ({ ...m, dead: m.state === 'dead' || m.state === 'left' }));
      }),
      endpoint.serve(Messages.FORGET, (q) => ({ forgotten: this.forget(q.id) })),
      // Evidence of death: a watched probe found nothing listening at a member's address.
      endpoint.onUnreachable((addr) => this.onUnreachable(addr)),
    );
    const seed = await this.join();
    if (!this.started) return; // stopped while joining
    // A random offset: a swarm started at once does not probe in lockstep.
    this.probeTimer = this.after(this.components.rng.int(this.cfg.probeIntervalMs), () => this.probeTick());
    this.every(this.cfg.gossipIntervalMs, () => this.gossipTick());
    this.schedulePushPull();
    // Versions, states and quarantines the JOIN answer does not carry: one exchange with the seed that answered.
    if (seed) void this.pushPull(seed);
  }

  async stop(): Promise<void> {
    for (const t of this.timers) t.clear();
    this.timers.clear();
    this.probeTimer = null;
    this.current = null;
    for (const unsubscribe of this.subscriptions.splice(0)) unsubscribe();
    for (const e of this.table.values()) {
      e.suspicion?.cancel();
      e.suspicion = null;
    }
    for (const r of this.relays.values()) r.timer.clear();
    this.relays.clear();
    this.pending.clear();
    this.started = false;
  }

  /**
   * Announces that this cell stops on purpose: its 'left' news goes straight
   * to a few members and rides on gossip for a short while (at most 1 s);
   * it stops probing and answering meanwhile.
   */
  async leave(): Promise<void> {
    if (!this.started || this.leaving) return;
    this.leaving = true;
    this.probeTimer?.clear();
    this.current = null;
    this.queue.push(this.self.id);
    const to = this.peers.pick(2 * this.cfg.gossipNodes).map((id) => this.table.get(id)!.member.addr);
    this.endpoint.notice(to, Messages.GOSSIP, { inc: this.self.incarnation, updates: [this.selfUpdate()] });
    await new Promise<void>((resolve) => this.after(Math.min(1_000, 2 * this.cfg.gossipIntervalMs), resolve));
  }

  members(): Member[] {
    const me: Member = { ...this.self, state: 'alive', lastHeardAtMs: this.components.clock.now(), stateSinceMs: 0 };
    const out = [me];
    for (const e of this.table.values()) out.push(e.member);
    return out;
  }

  get(id: CellId): Member | undefined {
    return id === this.self.id ? this.members()[0] : this.table.get(id)?.member;
  }

  /** How unhealthy this cell believes itself (Lifeguard's local health multiplier, 0 = healthy). */
  get health(): number {
    return this.awareness.health;
  }

  /** Members with news waiting to be gossiped (bounded by gossipQueueMax). */
  get queuedNews(): number {
    return this.queue.size;
  }

  updateSelf(patch: Partial<Omit<MemberInfo, 'id' | 'addr' | 'incarnation'>>): void {
    let changed = false;
    let urgent = false;
    for (const [k, v] of Object.entries(patch)) {
      if (v === undefined || this.self[k as keyof MemberInfo] === v) continue;
      changed = true;
      if (!USAGE_FIELDS.has(k)) urgent = true;
    }
    this.self = { ...this.self, ...patch };
    if (!changed) return;
    // A new role or intent travels at once: placement and lateral inhibition depend on it. Usage waits its turn.
    if (urgent) this.announceSelf();
    else this.usageDirty = true;
  }

  onEvent(listener: (e: MembershipEvent) => void): Unsubscribe {
    this.listeners.push(listener);
    return () => {
      const i = this.listeners.indexOf(listener);
      if (i >= 0) this.listeners.splice(i, 1);
    };
  }

  quarantine(id: CellId, incarnation: number): void {
    if (id === this.self.id) return;
    const e = this.table.get(id);
    if (e && e.member.incarnation > incarnation) return; // already back with a higher incarnation: stale news
    const known = this.quarantines.get(id);
    if (known !== undefined && known >= incarnation) return;
    this.quarantines.set(id, incarnation);
    if (!e) return;
    this.setState(e, 'quarantined', 'member-quarantined');
  }

  isQuarantined(id: CellId): boolean {
    return this.quarantines.has(id);
  }

  forget(id: CellId): boolean {
    const e = this.table.get(id);
    if (!e || (e.member.state !== 'dead' && e.member.state !== 'left')) return false;
    this.table.delete(id);
    this.gone.delete(id);
    this.queue.remove(id);
    if (this.byAddr.get(e.member.addr) === id) this.byAddr.delete(e.member.addr);
    if (this.forgotten.size >= MEMBERS_MAX) this.forgotten.delete(this.forgotten.values().next().value!);
    this.forgotten.add(id);
    this.log('forgot %k at %s', id, e.member.addr);
    return true;
  }

  // ---- joining and push-pull ----

  /** Asks every seed at once for the member list; the first good answer is enough. Returns the seed that answered. */
  private async join(): Promise<Addr | null> {
    const seeds = this.init.seeds.filter((s) => s !== this.self.addr);
    if (seeds.length === 0) return null;
    const asked = seeds.map(async (s) => ({ seed: s, list: await this.endpoint.call(s, Messages.JOIN, this.self, { timeoutMs: 2_000 }) }));
    const answer = await Promise.any(asked).catch(() => null);
    if (!answer) {
      this.log('no seed answered (%o): starting alone', seeds);
      return null;
    }
    for (const m of answer.list) {
      if (m.id !== this.self.id && this.forgotten.has(m.id)) continue;
      this.apply({ ...memberInfoOf(m), state: m.dead ? 'dead' : 'alive', version: 0 }, false);
    }
    this.log('joined through %s: %d members', answer.seed, answer.list.length);
    return answer.seed;
  }

  private schedulePushPull(): void {
    const n = this.table.size + 1;
    const scale = n <= PUSH_PULL_SCALE_THRESHOLD ? 1 : Math.ceil(Math.log2(n) - Math.log2(PUSH_PULL_SCALE_THRESHOLD)) + 1;
    // Jittered, so that members started together do not exchange in step.
    const ms = this.cfg.pushPullIntervalMs * scale * (0.5 + this.components.rng.next());
    this.after(ms, () => {
      this.pushPullToGone = !this.pushPullToGone && this.gone.size > 0;
      const id = (this.pushPullToGone ? this.gone : this.peers).pick(1)[0];
      const e = id === undefined ? undefined : this.table.get(id);
      if (e) void this.pushPull(e.member.addr);
      this.schedulePushPull();
    });
  }

  private async pushPull(addr: Addr): Promise<void> {
    if (this.pushPullRunning) return;
    this.pushPullRunning = true;
    try {
      const answer = await this.endpoint.call(addr, Messages.PUSH_PULL, this.tableUpdates());
      if (this.started && !this.leaving) this.merge(answer, null);
    } catch {
      // A dead or cut-off member: the next exchange picks another one.
    } finally {
      this.pushPullRunning = false;
    }
  }

  /** Another member's whole table: its own entry first-hand, the others second-hand. */
  private merge(table: MemberUpdate[], sender: CellId | null): void {
    if (this.leaving) return;
    for (const u of table) this.apply(u, u.id === sender || (sender === null && u === table[0]));
  }

  private tableUpdates(): MemberUpdate[] {
    const out = [this.selfUpdate()];
    for (const id of this.table.keys()) out.push(this.updateOf(id)!);
    return out;
  }

  // ---- probing ----

  private probeTick(): void {
    this.finishProbe();
    const target = this.peers.next();
    if (target !== null) this.startProbe(target);
    this.probeTimer = this.after(this.awareness.scale(this.cfg.probeIntervalMs), () => this.probeTick());
  }

  private startProbe(target: CellId): void {
    const e = this.table.get(target)!;
    const seq = this.nextSeq++;
    const probe: PendingProbe = { target, acked: false, nacks: 0, relays: 0 };
    this.pending.set(seq, probe);
    this.current = { seq, probe };
    // Watched: a dead process's port answers with ICMP, and the endpoint reports it (onUnreachable).
    this.endpoint.notice(e.member.addr, Messages.PROBE, this.piggyback({ seq, inc: this.self.incarnation }), { watch: true });
    this.after(this.awareness.scale(this.cfg.probeTimeoutMs), () => {
      if (this.current?.seq !== seq || probe.acked) return;
      probe.relays = this.askRelays(seq, e.member);
    });
  }

  /** The end of a protocol period: the probe was answered, or its target becomes suspect. */
  private finishProbe(): void {
    const c = this.current;
    if (!c) return;
    this.current = null;
    this.pending.delete(c.seq);
    const { probe } = c;
    if (probe.acked) {
      this.awareness.apply(-1);
      return;
    }
    // Lifeguard: relays that did not even nack point at our own links or event loop, not at the target.
    this.awareness.apply(probe.relays > 0 ? probe.relays - probe.nacks : 1);
    const e = this.table.get(probe.target);
    if (e) this.suspect(e, [this.self.id]);
  }

  /** Asks up to k members to probe `target` for us, acking with `seq`; returns how many were asked. */
  private askRelays(seq: number, target: Member): number {
    const relays = this.peers.pick(this.cfg.indirectChecks, new Set([target.id]));
    const body = this.piggyback<ProbeRequestBody>({ seq, inc: this.self.incarnation, target: target.id, targetAddr: target.addr });
    this.endpoint.notice(relays.map((id) => this.table.get(id)!.member.addr), Messages.PROBE_REQ, body);
    return relays.length;
  }

  private onAck(seq: number, nack: boolean): void {
    const relayed = this.relays.get(seq);
    if (relayed) {
      if (nack) return;
      relayed.timer.clear();
      this.relays.delete(seq);
      this.endpoint.notice(relayed.origin, Messages.PROBE_ACK, this.piggyback({ seq: relayed.originSeq, inc: this.self.incarnation, nack: false }));
      return;
    }
    const probe = this.pending.get(seq);
    if (!probe) return;
    if (nack) probe.nacks++;
    else probe.acked = true;
  }

  /** Probes `target` for a member that could not reach it; acks to the asker, or nacks when the probe times out. */
  private relay(originSeq: number, target: CellId, targetAddr: Addr, origin: Addr): void {
    if (this.relays.size >= RELAYS_MAX || target === this.self.id) return;
    const seq = this.nextSeq++;
    const timer = this.after(this.cfg.probeTimeoutMs, () => {
      if (!this.relays.delete(seq)) return;
      this.endpoint.notice(origin, Messages.PROBE_ACK, this.piggyback({ seq: originSeq, inc: this.self.incarnation, nack: true }));
    });
    this.relays.set(seq, { origin, originSeq, timer });
    this.endpoint.notice(targetAddr, Messages.PROBE, this.piggyback({ seq, inc: this.self.incarnation }));
  }

  /**
   * Nothing listens at `addr` any more (ICMP port unreachable): strong
   * evidence. Its member is suspect at once and dead unless an indirect
   * probe reaches it within the probe timeout.
   */
  private onUnreachable(addr: Addr): void {
    const id = this.byAddr.get(addr);
    const e = id === undefined ? undefined : this.table.get(id);
    if (!e || (e.member.state !== 'alive' && e.member.state !== 'suspect') || this.leaving) return;
    this.counters.evidence++;
    this.suspect(e, [this.self.id]);
    const seq = this.nextSeq++;
    const probe: PendingProbe = { target: e.member.id, acked: false, nacks: 0, relays: 0 };
    this.pending.set(seq, probe);
    if (this.askRelays(seq, e.member) === 0) {
      this.pending.delete(seq);
      return this.die(e, 'dead');
    }
    this.after(this.awareness.scale(this.cfg.probeTimeoutMs) * 2, () => {
      this.pending.delete(seq);
      if (!probe.acked && e.member.state === 'suspect' && this.table.get(e.member.id) === e) this.die(e, 'dead');
    });
  }

  // ---- news ----

  /** A message from a member: its news applied; true if it is to be answered. */
  private received(body: Piggyback, msg: Incoming): boolean {
    if (this.leaving || !this.started) return false;
    let saysAlive = true;
    for (const u of body.updates) {
      const firstHand = u.id === msg.sender;
      if (firstHand && u.state !== 'alive') saysAlive = false;
      this.apply(u, firstHand);
    }
    if (saysAlive) this.heardFrom(msg.sender, body.inc);
    return true;
  }

  /** Any message from a member is first-hand news that it is alive at the incarnation it gives. */
  private heardFrom(id: CellId, inc: number): void {
    const e = this.table.get(id);
    if (!e) return;
    const m = e.member;
    m.lastHeardAtMs = this.components.clock.now();
    if (inc < m.incarnation) return;
    if (m.state === 'suspect' || m.state === 'dead' || m.state === 'left') {
      m.incarnation = inc;
      this.revive(e);
    }
  }

  /** News about a member (from a message, a push-pull or a JOIN answer), applied by SWIM's precedence rules. */
  private apply(u: MemberUpdate, firstHand: boolean): void {
    if (u.id === this.self.id) return this.newsOfSelf(u);
    if (this.forgotten.has(u.id)) {
      if (!firstHand) return;
      this.forgotten.delete(u.id); // it speaks again: not retired after all
    }
    const e = this.table.get(u.id);
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
        if ((higher || firstHand) && m.state !== 'alive') this.revive(e);
        return;
      case 'suspect':
        if (m.state === 'alive' || (higher && m.state !== 'suspect')) return this.suspect(e, u.accusers ?? []);
        if (m.state === 'suspect') {
          let news = false;
          for (const a of u.accusers ?? []) if (e.suspicion?.confirm(a)) news = true;
          if (news) this.queue.push(u.id);
        }
        return;
      case 'dead':
      case 'left':
        if (m.state === 'alive' || m.state === 'suspect' || (higher && m.state !== u.state)) this.die(e, u.state);
    }
  }

  /** A member not known yet. */
  private add(u: MemberUpdate, firstHand: boolean): void {
    if (this.table.size >= MEMBERS_MAX) {
      this.counters.tableFull++;
      return;
    }
    const now = this.components.clock.now();
    const q = this.quarantines.get(u.id);
    const quarantined = u.state === 'quarantined' || (q !== undefined && u.incarnation <= q);
    const state = quarantined ? 'quarantined' : u.state === 'dead' || u.state === 'left' ? u.state : 'alive';
    const e: Entry = { member: { ...memberInfoOf(u), state, lastHeardAtMs: now, stateSinceMs: now }, version: u.version, suspicion: null };
    this.table.set(u.id, e);
    this.queue.push(u.id);
    if (u.state === 'quarantined') this.quarantine(u.id, u.incarnation);
    if (state !== 'alive') {
      // Known gone (a JOIN answer, gossip): no event, nothing to wait out again.
      if (state !== 'quarantined') this.gone.add(u.id);
      return;
    }
    this.peers.add(u.id);
    this.emit('member-joined', e.member);
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
    this.queue.push(m.id);
    if (roleBefore !== m.role) this.emit('role-changed', m);
  }

  /**
   * One address serves one cell: a new cell speaking from a member's address
   * (its data directory was wiped, so it came back with a new id) means that
   * member is gone. Dead at once: chunks sent to that address would reach a
   * cell that is not their home.
   */
  private replacedAt(newcomer: Entry): void {
    const { addr, id } = newcomer.member;
    const before = this.byAddr.get(addr);
    this.byAddr.set(addr, id);
    const old = before === undefined || before === id ? undefined : this.table.get(before);
    if (!old || old.member.state === 'dead' || old.member.state === 'quarantined' || old.member.state === 'left') return;
    this.log('%k replaced at %s by %k', old.member.id, addr, id);
    this.die(old, 'dead');
  }

  /** News of this cell itself: a suspicion or death (or a former life's news) is refuted with a higher incarnation. */
  private newsOfSelf(u: MemberUpdate): void {
    if (this.leaving) return;
    if (u.state === 'quarantined') {
      this.selfQuarantined = true;
      return;
    }
    if (this.selfQuarantined) return;
    const refute = u.incarnation > this.self.incarnation || (u.incarnation === this.self.incarnation && (u.state !== 'alive' || u.version > this.selfVersion));
    if (!refute) return;
    if (u.state === 'suspect') this.awareness.apply(1); // Lifeguard: being suspected hints that we are the slow one
    this.counters.refuted++;
    this.self = { ...this.self, incarnation: u.incarnation + 1 };
    this.log('refuted %s at incarnation %d: now %d', u.state, u.incarnation, this.self.incarnation);
    this.queue.push(this.self.id);
  }

  private suspect(e: Entry, accusers: CellId[]): void {
    const m = e.member;
    if (m.state === 'suspect') {
      let news = false;
      for (const a of accusers) if (e.suspicion?.confirm(a)) news = true;
      if (news) this.queue.push(m.id);
      return;
    }
    if (m.state === 'quarantined') return;
    const n = this.peers.size + 1;
    const expected = this.cfg.suspicionMult - 2;
    const k = n - 2 < expected ? 0 : expected;
    const minMs = this.cfg.suspicionMult * Math.max(1, Math.log10(n)) * this.cfg.probeIntervalMs;
    const maxMs = this.cfg.suspicionMaxTimeoutMult * minMs;
    e.suspicion?.cancel();
    const [first = this.self.id, ...others] = accusers;
    e.suspicion = new Suspicion(this.components.clock, k, minMs, maxMs, () => {
      if (this.table.get(m.id) === e && m.state === 'suspect') this.die(e, 'dead');
    }, first);
    for (const a of others) e.suspicion.confirm(a);
    this.peers.add(m.id);
    this.gone.delete(m.id);
    this.setState(e, 'suspect', 'member-suspected');
  }

  private die(e: Entry, state: 'dead' | 'left'): void {
    const m = e.member;
    e.suspicion?.cancel();
    e.suspicion = null;
    this.peers.delete(m.id);
    this.gone.add(m.id);
    if (this.byAddr.get(m.addr) === m.id) this.byAddr.delete(m.addr);
    this.setState(e, state, state === 'dead' ? 'member-died' : 'member-left');
  }

  private revive(e: Entry): void {
    e.suspicion?.cancel();
    e.suspicion = null;
    this.peers.add(e.member.id);
    this.gone.delete(e.member.id);
    if (!this.byAddr.has(e.member.addr)) this.byAddr.set(e.member.addr, e.member.id);
    this.setState(e, 'alive', 'member-recovered');
  }

  private setState(e: Entry, state: Member['state'], event: MembershipEventType): void {
    const m = e.member;
    m.state = state;
    m.stateSinceMs = this.components.clock.now();
    if (state === 'quarantined') {
      e.suspicion?.cancel();
      e.suspicion = null;
      this.peers.delete(m.id);
      this.gone.delete(m.id);
    }
    this.queue.push(m.id);
    this.emit(event, m);
  }

  // ---- dissemination ----

  private announceSelf(): void {
    this.selfVersion++;
    this.usageDirty = false;
    this.usageGossipedAtMs = this.components.clock.now();
    this.queue.push(this.self.id);
  }

  private gossipTick(): void {
    if (this.usageDirty && this.components.clock.now() - this.usageGossipedAtMs >= this.cfg.usageGossipIntervalMs) this.announceSelf();
    if (this.queue.size === 0) return;
    for (const id of this.peers.pick(this.cfg.gossipNodes)) {
      const body = this.piggyback({ inc: this.self.incarnation });
      if (body.updates.length === 0) return;
      this.endpoint.notice(this.table.get(id)!.member.addr, Messages.GOSSIP, body);
    }
  }

  /** Each update is sent about retransmitMult * log10(N + 1) times: enough to reach every member w.h.p. */
  private transmitsMax(): number {
    return this.cfg.retransmitMult * Math.ceil(Math.log10(this.table.size + 2));
  }

  /** A message body with as much queued news as fits one datagram. */
  private piggyback<B extends Piggyback>(base: Omit<B, 'updates'>): B {
    let free = this.endpoint.singleBodyBytesMax - JSON.stringify({ ...base, updates: [] }).length;
    const updates: MemberUpdate[] = [];
    // While leaving, the news that it left goes first in everything it sends.
    if (this.leaving) {
      const u = this.selfUpdate();
      free -= JSON.stringify(memberUpdateOf(u)).length + 1;
      updates.push(u);
    }
    this.queue.take(this.transmitsMax(), (id) => {
      const u = this.updateOf(id);
      if (!u || (this.leaving && id === this.self.id)) return null;
      const bytes = JSON.stringify(memberUpdateOf(u)).length + 1;
      if (bytes > free) return false;
      free -= bytes;
      updates.push(u);
      return true;
    });
    return { ...base, updates } as B;
  }

  private selfUpdate(): MemberUpdate {
    return { ...memberInfoOf(this.self), state: this.leaving ? 'left' : 'alive', version: this.selfVersion };
  }

  private updateOf(id: CellId): MemberUpdate | null {
    if (id === this.self.id) return this.selfUpdate();
    const e = this.table.get(id);
    if (!e) return null;
    const m = e.member;
    const u: MemberUpdate = { ...memberInfoOf(m), state: m.state, version: e.version };
    if (m.state === 'suspect' && e.suspicion) u.accusers = e.suspicion.accusersList;
    return u;
  }

  // ---- plumbing ----

  private after(ms: number, fn: () => void): TimerHandle {
    const t = this.components.clock.setTimeout(() => {
      this.timers.delete(t);
      fn();
    }, ms);
    this.timers.add(t);
    return t;
  }

  private every(ms: number, fn: () => void): void {
    this.timers.add(this.components.clock.setInterval(fn, ms));
  }

  private emit(type: MembershipEventType, member: Member): void {
    this.log('%s %k at %s', type, member.id, member.addr);
    for (const l of this.listeners) l({ type, member: { ...member } });
  }
}
