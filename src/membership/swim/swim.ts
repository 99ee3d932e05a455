import { Listeners, logger, type Addr, type CellId, type MembershipConfig, type TimerHandle, type Unsubscribe } from '../../core/index.js';
import type { Endpoint, Incoming } from '../../rpc/index.js';
import { Messages, encodedUpdate, memberInfoOf, type MemberUpdate, type Piggyback, type ProbeRequestBody } from '../../wire/index.js';
import { digestShares, stateCode } from '../member-ids.js';
import type { Member, MemberInfo, Membership, MembershipComponents, MembershipEvent, MembershipEventType, MembershipInit } from '../member.js';
import { Awareness } from './awareness.js';
import { BroadcastQueue } from './broadcasts.js';
import { MemberTable, type NewsCounters } from './member-table.js';
import { BUCKET_HEX, bucketOf, bucketsFor, differingBuckets, type DigestEntry } from './table-digest.js';


/** A relay nacks after this share of the probe timeout (memberlist: 80%). */
const RELAY_NACK_SHARE = 0.8;
/** Indirect probes this cell runs for others at once; more are ignored (the asker falls back on its other relays). */
const RELAYS_MAX = 256;
/** What a member says of itself that changes with every write: gossiped at a bounded rate. */
const USAGE_FIELDS = new Set(['chunks', 'bytes', 'capacityBytes']);
/** Members past which the push-pull interval grows with log N (memberlist's pushPullScale). */
const PUSH_PULL_SCALE_THRESHOLD = 32;

interface PendingProbe {
  target: CellId;
  acked: boolean;
  nacks: number;
  relays: number;
  /** Called once every relay asked has nacked (confirming evidence of death). */
  allNacked?: () => void;
}

interface Relay {
  origin: Addr;
  originSeq: number;
  targetAddr: Addr;
  timer: TimerHandle;
}

/** What the detector counts (malformed messages are counted by the endpoint). */
export interface SwimCounters extends NewsCounters {
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
  private readonly table: MemberTable;
  private readonly queue: BroadcastQueue;
  private readonly awareness: Awareness;
  private readonly pending = new Map<number, PendingProbe>();
  /** Members whose evidence of death is being confirmed by indirect probes. */
  private readonly confirming = new Set<CellId>();
  private readonly relays = new Map<number, Relay>();
  private readonly listeners = new Listeners<MembershipEvent>();
  private readonly timers = new Set<TimerHandle>();
  private readonly subscriptions: Unsubscribe[] = [];
  private self: MemberInfo;
  private selfVersion = 0;
  /** The news last made of this cell, kept while self, its version and leaving are the same (its encoding is cached with it). */
  private selfNews: { update: MemberUpdate; of: MemberInfo; version: number; leaving: boolean } | null = null;
  /** A usage change not yet gossiped (rate-limited), and when usage last was. */
  private usageDirty = false;
  private usageGossipedAtMs = -Infinity;
  /** Told by the swarm that it is quarantined: never refute news of itself again in this process. */
  private selfQuarantined = false;
  private nextSeq = 1;
  private probeTimer: TimerHandle | null = null;
  private current: { seq: number; probe: PendingProbe } | null = null;
  private pushPullRunning = false;
  private gossipScheduled = false;
  private pushPullToGone = false;
  private leaving = false;
  private started = false;
  private readonly log;

  constructor(private readonly components: MembershipComponents, private readonly init: MembershipInit) {
    this.self = { ...init.self };
    this.queue = new BroadcastQueue(init.config.gossipQueueMax, (id) => this.table.dropNews(id));
    this.awareness = new Awareness(init.config.awarenessMax);
    this.log = logger('membership', init.logPrefix);
    this.table = new MemberTable(components.clock, components.rng, init.config, this.counters, {
      news: (id, urgent) => this.queue.push(id, urgent),
      urgent: () => this.gossipSoon(),
      emit: (type, member) => this.emit(type, member),
      log: this.log,
    }, components.memberIds);
    if (init.known) this.table.seed(init.known, this.self.id);
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
    // Those known when this cell last stopped in order: away, not dead, until anyone says otherwise (the JOIN
    // answer, in a running swarm; the members themselves, in a whole swarm restarted).
    this.table.recall(this.init.left ?? [], this.self.id);
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
      endpoint.serve(Messages.PUSH_PULL, (offer, req) => {
        this.merge(offer.updates, req.sender);
        const digest = this.digest();
        if (!offer.pull || offer.digest === digest) return { digest, buckets: '', updates: [] };
        // The members of the buckets that differ (all of them if the asker gave no buckets), and this side's buckets.
        const count = offer.buckets.length / BUCKET_HEX;
        if (count === 0) return { digest, buckets: '', updates: this.tableUpdates() };
        const mine = this.bucketDigests(count);
        return { digest, buckets: mine.join(''), updates: this.updatesIn(differingBuckets(mine, offer.buckets), count) };
      }),
      endpoint.serve(Messages.JOIN, (info, req) => {
        if (info.id !== req.sender) throw new Error('bad join');
        this.apply({ ...memberInfoOf(info), state: 'alive', version: 0 }, true);
        // Dead and left members are listed as such: a joiner must neither wait them out again nor take them for alive.
        // Those only assumed left are not listed: this cell has not heard of them.
        const listed = [this.selfMember()];
        for (const i of this.table.indices()) if (!this.table.isAssumed(i)) listed.push(this.table.member(i));
        return listed.map((m) => ({ ...m, dead: m.state === 'dead', left: m.state === 'left' }));
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
    this.schedulePushPull(true);
    // Versions, states and quarantines the JOIN answer does not carry: one exchange with the seed that answered.
    // Only this cell's own entry goes: the rest of its table is what that seed just gave it.
    if (seed) void this.pushPull(seed, [this.selfUpdate()]);
  }

  async stop(): Promise<void> {
    for (const t of this.timers) t.clear();
    this.timers.clear();
    this.probeTimer = null;
    this.current = null;
    for (const unsubscribe of this.subscriptions.splice(0)) unsubscribe();
    this.table.cancelSuspicions();
    for (const r of this.relays.values()) r.timer.clear();
    this.relays.clear();
    this.pending.clear();
    this.confirming.clear();
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
    this.queue.push(this.self.id, true);
    const to = this.table.peers.pick(2 * this.cfg.gossipNodes).map((i) => this.table.addrOf(i));
    this.endpoint.notice(to, Messages.GOSSIP, { inc: this.self.incarnation, updates: [this.selfUpdate()] });
    // Not one of the detector's timers: a stop() meanwhile must not leave the caller waiting.
    await new Promise<void>((resolve) => this.components.clock.setTimeout(resolve, Math.min(1_000, 2 * this.cfg.gossipIntervalMs)));
  }

  members(): Member[] {
    const out = [this.selfMember()];
    for (const i of this.table.indices()) out.push(this.table.member(i));
    return out;
  }

  get(id: CellId): Member | undefined {
    if (id === this.self.id) return this.selfMember();
    const i = this.table.indexOf(id);
    return i < 0 ? undefined : this.table.member(i);
  }

  private selfMember(): Member {
    return { ...this.self, state: 'alive', lastHeardAtMs: this.components.clock.now(), stateSinceMs: 0 };
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
    if (!urgent) {
      this.usageDirty = true;
      return;
    }
    this.announceSelf();
    if (!this.started || this.leaving) return;
    // Lateral inhibition needs every neighbour to hear an intent within a few hundred ms: a small swarm is told
    // directly (as the mesh did), a large one through gossip.
    const all = this.table.peers.size <= this.cfg.announceToAllMax;
    const to = all ? [...this.table.peers.all] : this.table.peers.pick(this.cfg.gossipNodes);
    const addrs = to.map((i) => this.table.addrOf(i));
    this.endpoint.notice(addrs, Messages.GOSSIP, { inc: this.self.incarnation, updates: [this.selfUpdate()] });
  }

  onEvent(listener: (e: MembershipEvent) => void): Unsubscribe {
    return this.listeners.add(listener);
  }

  quarantine(id: CellId, incarnation: number): void {
    if (id !== this.self.id) this.table.quarantine(id, incarnation);
  }

  isQuarantined(id: CellId): boolean {
    return this.table.isQuarantined(id);
  }

  forget(id: CellId): boolean {
    const forgotten = this.table.forget(id);
    if (!forgotten) return false;
    this.queue.remove(id);
    this.log('forgot %k at %s', id, forgotten.addr);
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
      this.apply({ ...memberInfoOf(m), state: m.dead ? 'dead' : m.left ? 'left' : 'alive', version: 0 }, false);
    }
    this.log('joined through %s: %d members', answer.seed, answer.list.length);
    return answer.seed;
  }

  /** The next push-pull: the first at a random point of the first interval (a swarm started at once spreads its exchanges evenly), then jittered. */
  private schedulePushPull(first = false): void {
    const n = this.table.size + 1;
    const scale = n <= PUSH_PULL_SCALE_THRESHOLD ? 1 : Math.ceil(Math.log2(n) - Math.log2(PUSH_PULL_SCALE_THRESHOLD)) + 1;
    const ms = this.cfg.pushPullIntervalMs * scale * (first ? this.components.rng.next() : 0.5 + this.components.rng.next());
    this.after(ms, () => {
      this.pushPullToGone = !this.pushPullToGone && this.table.gone.size > 0;
      const i = (this.pushPullToGone ? this.table.gone : this.table.peers).pick(1)[0];
      if (i !== undefined) void this.pushPull(this.table.addrOf(i));
      this.schedulePushPull();
    });
  }

  /**
   * Offers this cell's table digest, whole and in buckets (and `updates`, a
   * joiner's own entry); the other member answers with the members of the
   * buckets that differ, and its own buckets. If the digests still differ
   * once that is merged, the other lacks what this cell holds: the members of
   * the buckets that still differ follow. Equal tables (a steady swarm)
   * exchange two short datagrams; tables that differ in a few members send
   * a few buckets' members, not 2 × N entries.
   */
  private async pushPull(addr: Addr, updates: MemberUpdate[] = []): Promise<void> {
    if (this.pushPullRunning) return;
    this.pushPullRunning = true;
    try {
      const count = bucketsFor(this.table.size + 1);
      const offer = { digest: this.digest(), buckets: this.bucketDigests(count).join(''), pull: true, updates };
      const answer = await this.endpoint.call(addr, Messages.PUSH_PULL, offer);
      if (!this.started || this.leaving) return;
      // An answer starts with the answerer's own entry: first-hand if it is the member at the address asked.
      const first = answer.updates[0];
      this.merge(answer.updates, first?.addr === addr ? first.id : null);
      if (answer.digest === this.digest()) return;
      const theirs = answer.buckets.length === count * BUCKET_HEX ? answer.buckets : null;
      const push = theirs ? this.updatesIn(differingBuckets(this.bucketDigests(count), theirs), count) : this.tableUpdates();
      await this.endpoint.call(addr, Messages.PUSH_PULL, { digest: this.digest(), buckets: '', pull: false, updates: push });
    } catch {
      // A dead or cut-off member: the next exchange picks another one.
    } finally {
      this.pushPullRunning = false;
    }
  }

  /** Another member's whole table: its own entry first-hand, the others second-hand. */
  private merge(table: MemberUpdate[], sender: CellId | null): void {
    if (this.leaving) return;
    for (const u of table) this.apply(u, u.id === sender);
  }

  /** This cell's own entry as other members' digests hold it. */
  private ownDigestEntry(): DigestEntry {
    const shares = digestShares(this.self.id, this.self.incarnation, this.selfVersion);
    return { bucket: bucketOf(this.self.id), shares, state: stateCode(this.leaving ? 'left' : 'alive') };
  }

  /** 16 hex digits of a digest of the whole table as other members see it: the others' entries and this cell's own. */
  private digest(): string {
    return this.table.digest.whole(this.ownDigestEntry());
  }

  /** The digests of `count` buckets of that table. */
  private bucketDigests(count: number): string[] {
    return this.table.digest.buckets(count, this.ownDigestEntry());
  }

  /** The entries (this cell's own included) of the buckets given, folded to `count`. */
  private updatesIn(buckets: ReadonlySet<number>, count: number): MemberUpdate[] {
    const out = buckets.has(bucketOf(this.self.id) % count) ? [this.selfUpdate()] : [];
    for (const i of this.table.indicesIn(buckets, count)) out.push(this.table.updateOf(i, false));
    return out;
  }

  private tableUpdates(): MemberUpdate[] {
    const out = [this.selfUpdate()];
    for (const i of this.table.indices()) if (!this.table.isAssumed(i)) out.push(this.table.updateOf(i, false));
    return out;
  }

  // ---- probing ----

  private probeTick(): void {
    this.finishProbe();
    const target = this.table.peers.next();
    if (target >= 0) this.startProbe(this.table.idOf(target), this.table.addrOf(target));
    this.probeTimer = this.after(this.awareness.scale(this.cfg.probeIntervalMs), () => this.probeTick());
  }

  private startProbe(target: CellId, addr: Addr): void {
    const seq = this.nextSeq++;
    const probe: PendingProbe = { target, acked: false, nacks: 0, relays: 0 };
    this.pending.set(seq, probe);
    this.current = { seq, probe };
    // Watched: a dead process's port answers with ICMP, and the endpoint reports it (onUnreachable).
    this.endpoint.notice(addr, Messages.PROBE, this.piggyback({ seq, inc: this.self.incarnation }), { watch: true });
    this.after(this.awareness.scale(this.cfg.probeTimeoutMs), () => {
      if (this.current?.seq !== seq || probe.acked) return;
      probe.relays = this.askRelays(seq, target, addr);
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
    const i = this.table.indexOf(probe.target);
    if (i >= 0) this.table.suspect(i, [this.self.id]);
  }

  /** Asks up to k members to probe `target` for us, acking with `seq`; returns how many were asked. */
  private askRelays(seq: number, target: CellId, targetAddr: Addr): number {
    const except = new Set([this.table.indexOf(target)]);
    const relays = this.table.peers.pick(this.cfg.indirectChecks, except);
    const body = this.piggyback<ProbeRequestBody>({ seq, inc: this.self.incarnation, target, targetAddr });
    this.endpoint.notice(relays.map((i) => this.table.addrOf(i)), Messages.PROBE_REQ, body);
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
    if (!nack) probe.acked = true;
    else if (++probe.nacks >= probe.relays) probe.allNacked?.();
  }

  /** Probes `target` for a member that could not reach it; acks to the asker, or nacks when the probe times out. */
  private relay(originSeq: number, target: CellId, targetAddr: Addr, origin: Addr): void {
    if (this.relays.size >= RELAYS_MAX || target === this.self.id) return;
    const seq = this.nextSeq++;
    // The nack must reach the asker before its period ends: asked one probe timeout in, it has less than one left.
    const timer = this.after(RELAY_NACK_SHARE * this.cfg.probeTimeoutMs, () => this.nack(seq));
    this.relays.set(seq, { origin, originSeq, targetAddr, timer });
    // Watched too: nothing listening there is a nack at once, and evidence for this cell as well.
    this.endpoint.notice(targetAddr, Messages.PROBE, this.piggyback({ seq, inc: this.self.incarnation }), { watch: true });
  }

  /** The relayed probe `seq` went unanswered: the asker hears that this relay, at least, is alive. */
  private nack(seq: number): void {
    const r = this.relays.get(seq);
    if (!r) return;
    r.timer.clear();
    this.relays.delete(seq);
    this.endpoint.notice(r.origin, Messages.PROBE_ACK, this.piggyback({ seq: r.originSeq, inc: this.self.incarnation, nack: true }));
  }

  /**
   * Nothing listens at `addr` any more (ICMP port unreachable): strong
   * evidence. Its member is suspect at once and dead unless an indirect
   * probe reaches it within the probe timeout.
   */
  private onUnreachable(addr: Addr): void {
    if (this.leaving) return;
    for (const [seq, r] of this.relays) if (r.targetAddr === addr) this.nack(seq);
    const i = this.table.at(addr);
    if (i < 0 || this.confirming.has(this.table.idOf(i))) return;
    this.counters.evidence++;
    this.table.suspect(i, [this.self.id]);
    const seq = this.nextSeq++;
    const target = this.table.idOf(i);
    const probe: PendingProbe = { target, acked: false, nacks: 0, relays: 0 };
    const settle = () => {
      if (!this.pending.delete(seq)) return;
      this.confirming.delete(target);
      timer.clear();
      if (!probe.acked && this.table.indexOf(target) === i && this.table.stateOf(i) === 'suspect') this.table.die(i, 'dead');
    };
    // Every relay nacking (they got the same evidence, or no answer) settles it early; a live target's ack
    // comes back well within two probe timeouts (a relay nacks after one).
    const timer = this.after(this.awareness.scale(this.cfg.probeTimeoutMs) * 2, settle);
    probe.allNacked = settle;
    this.pending.set(seq, probe);
    this.confirming.add(target);
    probe.relays = this.askRelays(seq, target, addr);
    if (probe.relays === 0) settle(); // nobody to ask: the evidence stands alone
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

  /**
   * Any message from a member is first-hand news that it is alive at the
   * incarnation it gives. Above the one we hold it suspect, dead or left at:
   * alive again. At it: it does not know, so it is told, and refutes (all
   * members then agree on its new incarnation, not only those it talks to).
   */
  private heardFrom(id: CellId, inc: number): void {
    const i = this.table.indexOf(id);
    if (i < 0) return;
    const now = this.components.clock.now();
    this.table.heard(i, now);
    const state = this.table.stateOf(i);
    const known = this.table.infoOf(i).incarnation;
    if (state === 'alive' || state === 'quarantined' || inc < known) return;
    if (inc > known) {
      this.table.setIncarnation(i, inc);
      return this.table.revive(i);
    }
    if (now - this.table.toldAtMs(i) < this.cfg.probeIntervalMs) return;
    this.table.setToldAtMs(i, now);
    this.endpoint.notice(this.table.addrOf(i), Messages.GOSSIP, { inc: this.self.incarnation, updates: [this.table.updateOf(i)] });
  }

  /** News about a member (a message, a push-pull, a JOIN answer); first-hand if the member itself said it. */
  private apply(u: MemberUpdate, firstHand: boolean): void {
    if (u.id === this.self.id) this.newsOfSelf(u);
    else this.table.apply(u, firstHand);
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
    this.queue.push(this.self.id, true); // before its suspicion times out anywhere
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
    this.gossip();
  }

  /** A gossip round as soon as this turn's news is in (several changes at once make one round). */
  private gossipSoon(): void {
    if (this.gossipScheduled || !this.started || this.leaving) return;
    this.gossipScheduled = true;
    this.after(0, () => {
      this.gossipScheduled = false;
      this.gossip();
    });
  }

  /** Queued news to gossipNodes random members. */
  private gossip(): void {
    if (this.queue.size === 0) return;
    for (const i of this.table.peers.pick(this.cfg.gossipNodes)) {
      const body = this.piggyback({ inc: this.self.incarnation });
      if (body.updates.length === 0) return;
      this.endpoint.notice(this.table.addrOf(i), Messages.GOSSIP, body);
    }
  }

  /** Each update is sent about retransmitMult * log10(N + 1) times: enough to reach every member w.h.p. */
  private transmitsMax(): number {
    return this.cfg.retransmitMult * Math.ceil(Math.log10(this.table.size + 2));
  }

  /** A message body with as much queued news as fits the piggyback budget (never more than one datagram). */
  private piggyback<B extends Piggyback>(base: Omit<B, 'updates'>): B {
    const body = base as B;
    body.updates = [];
    if (this.queue.size === 0 && !this.leaving) return body; // a steady swarm's probes and acks: nothing to measure
    const budget = Math.min(this.cfg.piggybackBytesMax, this.endpoint.singleBodyBytesMax);
    let free = budget - JSON.stringify(body).length;
    const { updates } = body;
    // While leaving, the news that it left goes first in everything it sends.
    if (this.leaving) {
      const u = this.selfUpdate();
      free -= encodedUpdate(u).length + 1;
      updates.push(u);
    }
    this.queue.take(this.transmitsMax(), (id) => {
      const u = this.updateOf(id);
      if (!u || (this.leaving && id === this.self.id)) return null;
      const bytes = encodedUpdate(u).length + 1;
      if (bytes > free) return false;
      free -= bytes;
      updates.push(u);
      return true;
    });
    return body;
  }

  private selfUpdate(): MemberUpdate {
    const c = this.selfNews;
    if (c && c.of === this.self && c.version === this.selfVersion && c.leaving === this.leaving) return c.update;
    const update: MemberUpdate = { ...memberInfoOf(this.self), state: this.leaving ? 'left' : 'alive', version: this.selfVersion };
    this.selfNews = { update, of: this.self, version: this.selfVersion, leaving: this.leaving };
    return update;
  }

  private updateOf(id: CellId): MemberUpdate | null {
    if (id === this.self.id) return this.selfUpdate();
    const i = this.table.indexOf(id);
    return i < 0 ? null : this.table.updateOf(i);
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

  /** `member` makes the member as it is now (only if someone listens: a simulator's 10⁸ entries are not objects). */
  private emit(type: MembershipEventType, member: () => Member): void {
    if (this.listeners.size === 0) return;
    const m = member();
    this.log('%s %k at %s', type, m.id, m.addr);
    this.listeners.emit({ type, member: m });
  }
}
