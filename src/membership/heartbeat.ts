import { Listeners, MEMBERS_MAX, logger, type Addr, type CellId, type TimerHandle, type Unsubscribe } from '../core/index.js';
import { HEARTBEAT_KNOWN_MAX, Messages, type HeartbeatBody } from '../wire/index.js';
import type { Member, MemberInfo, Membership, MembershipComponents, MembershipEvent, MembershipInit } from './member.js';


/** LEAVE is sent this many times, LEAVE_REPEAT_MS apart: one lost datagram must not make a stop look like a death. */
const LEAVE_SENDS = 3;
const LEAVE_REPEAT_MS = 50;

/**
 * The seed's failure detector: every member heartbeats every member each
 * interval. Not heard for failureTimeoutMs: suspect; for suspicionMs more:
 * dead. Any heartbeat at the current incarnation or higher brings a member
 * back to alive. A member that announced its leave (LEAVE) is 'left' until
 * it speaks again: silence never makes it dead. Traffic grows with the square of the swarm: fine for tens
 * of cells, and why a gossip detector sits behind the same interface later.
 */
export class HeartbeatMembership implements Membership {
  private readonly table = new Map<CellId, Member>();
  /** Quarantined members and the incarnation they were quarantined at. */
  private readonly quarantines = new Map<CellId, number>();
  /** Members retired by their operator (bounded like the table): second-hand news of them is ignored. */
  private readonly forgotten = new Set<CellId>();
  private readonly listeners = new Listeners<MembershipEvent>();
  private readonly timers: TimerHandle[] = [];
  /** The endpoint's handlers for membership messages, removed by stop(). */
  private readonly subscriptions: Unsubscribe[] = [];
  private self: MemberInfo;
  private readonly log;
  private started = false;
  /** Set by leave(): this cell says nothing more of itself. */
  private leaving = false;

  constructor(private readonly components: MembershipComponents, private readonly init: MembershipInit) {
    this.self = { ...init.self };
    this.log = logger('membership', init.logPrefix);
    const now = components.clock.now();
    for (const [infos, state] of [[init.left, 'left'], [init.known, 'alive']] as const) {
      for (const info of infos ?? []) {
        if (info.id === this.self.id || this.table.size >= MEMBERS_MAX) continue;
        this.table.set(info.id, { ...info, state, lastHeardAtMs: now, stateSinceMs: now });
      }
    }
  }

  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    this.leaving = false;
    const { endpoint, clock, rng } = this.components;
    this.subscriptions.push(
      endpoint.onNotice(Messages.HEARTBEAT, (hb, msg) => {
        if (hb.self.id !== msg.sender) return;
        this.forgotten.delete(hb.self.id); // it speaks again: not retired after all
        this.heard(hb.self);
        for (const k of hb.known) this.learn(k);
        for (const q of hb.quarantined) this.quarantine(q.id, q.incarnation);
      }),
      endpoint.onNotice(Messages.LEAVE, (leave, msg) => {
        if (leave.id === msg.sender) this.left(leave.id, leave.incarnation);
      }),
      endpoint.serve(Messages.JOIN, (info, req) => {
        if (info.id !== req.sender) throw new Error('bad join');
        this.forgotten.delete(info.id);
        this.heard(info);
        // Dead members are listed as dead: a joiner taking them for alive would wait out their death again,
        // and one not told of them at all would not know the swarm is missing a cell.
        // Those that left are listed as left: a joiner must neither wait them out as dead nor take them for alive.
        return this.members().map((m) => ({ ...m, dead: m.state === 'dead', left: m.state === 'left' }));
      }),
      endpoint.serve(Messages.FORGET, (q) => ({ forgotten: this.forget(q.id) })),
    );
    await this.join();
    if (!this.started) return; // stopped while joining
    const cfg = this.init.config;
    // Start at a random offset so a swarm started at once does not heartbeat in lockstep.
    const offset = rng.int(cfg.heartbeatIntervalMs);
    const first = clock.setTimeout(() => {
      this.heartbeatAll();
      this.timers.push(clock.setInterval(() => this.heartbeatAll(), cfg.heartbeatIntervalMs));
    }, offset);
    this.timers.push(first, clock.setInterval(() => this.tick(), cfg.tickMs));
    this.heartbeatAll();
  }

  /**
   * Stops heartbeating, then tells every member this cell leaves (LEAVE,
   * sent LEAVE_SENDS times: one-way datagrams may be lost). Heartbeats stop
   * first, so none sent after the LEAVE brings this cell back to alive.
   */
  async leave(): Promise<void> {
    if (!this.started || this.leaving) return;
    this.leaving = true;
    for (const t of this.timers.splice(0)) t.clear();
    const { endpoint, clock } = this.components;
    const body = { id: this.self.id, incarnation: this.self.incarnation };
    for (let i = 0; i < LEAVE_SENDS; i++) {
      if (i > 0) await new Promise<void>((r) => clock.setTimeout(r, LEAVE_REPEAT_MS));
      endpoint.notice([...this.table.values()].filter((m) => m.state !== 'dead').map((m) => m.addr), Messages.LEAVE, body);
    }
    this.log('left the swarm (incarnation %d)', this.self.incarnation);
  }

  /** Undoes start(): timers cleared, the endpoint's handlers for membership messages dropped. */
  async stop(): Promise<void> {
    for (const t of this.timers.splice(0)) t.clear();
    for (const unsubscribe of this.subscriptions.splice(0)) unsubscribe();
    this.started = false;
  }

  members(): Member[] {
    const now = this.components.clock.now();
    const me: Member = { ...this.self, state: 'alive', lastHeardAtMs: now, stateSinceMs: 0 };
    return [me, ...this.table.values()];
  }

  get(id: CellId): Member | undefined {
    return id === this.self.id ? this.members()[0] : this.table.get(id);
  }

  updateSelf(patch: Partial<Omit<MemberInfo, 'id' | 'addr' | 'incarnation'>>): void {
    const changed = (patch.role !== undefined && patch.role !== this.self.role) || (patch.intent !== undefined && patch.intent !== this.self.intent);
    this.self = { ...this.self, ...patch };
    // A new role or intent travels at once, not with the next heartbeat: placement and lateral inhibition depend on it.
    if (changed && this.started && !this.leaving) this.heartbeatAll();
  }

  onEvent(listener: (e: MembershipEvent) => void): Unsubscribe {
    return this.listeners.add(listener);
  }

  quarantine(id: CellId, incarnation: number): void {
    if (id === this.self.id) return;
    const m = this.table.get(id);
    if (m && m.incarnation > incarnation) return; // already back with a higher incarnation: stale news
    const known = this.quarantines.get(id);
    if (known !== undefined && known >= incarnation) return;
    this.quarantines.set(id, incarnation);
    if (m) {
      m.state = 'quarantined';
      m.stateSinceMs = this.components.clock.now();
      this.emit('member-quarantined', m);
    }
  }

  isQuarantined(id: CellId): boolean {
    return this.quarantines.has(id);
  }

  forget(id: CellId): boolean {
    const m = this.table.get(id);
    if (!m || (m.state !== 'dead' && m.state !== 'left')) return false;
    this.table.delete(id);
    if (this.forgotten.size >= MEMBERS_MAX) this.forgotten.delete(this.forgotten.values().next().value!);
    this.forgotten.add(id);
    this.log('forgot %k at %s', id, m.addr);
    return true;
  }

  /** A member another cell holds dead: known as dead here too, without waiting out its silence again. */
  private addDead(info: MemberInfo): void {
    if (this.table.has(info.id) || this.table.size >= MEMBERS_MAX) return;
    const now = this.components.clock.now();
    this.table.set(info.id, { ...info, state: 'dead', lastHeardAtMs: now, stateSinceMs: now });
  }

  /** A member another cell holds left: known as left here too (not alive: it is not speaking; not dead: it is expected back). */
  private addLeft(info: MemberInfo): void {
    if (this.table.has(info.id) || this.table.size >= MEMBERS_MAX) return;
    const now = this.components.clock.now();
    this.table.set(info.id, { ...info, state: 'left', lastHeardAtMs: now, stateSinceMs: now });
    this.emit('member-left', this.table.get(info.id)!);
  }

  /** The member itself said it stops on purpose (LEAVE): left, unless that news is stale or it is quarantined. */
  private left(id: CellId, incarnation: number): void {
    const m = this.table.get(id);
    if (!m || incarnation < m.incarnation || m.state === 'left' || m.state === 'quarantined') return;
    m.incarnation = incarnation;
    m.state = 'left';
    m.stateSinceMs = this.components.clock.now();
    this.emit('member-left', m);
  }

  /** Asks every seed at once for the member list; the first good answer is enough. */
  private async join(): Promise<void> {
    const seeds = this.init.seeds.filter((s) => s !== this.self.addr);
    if (seeds.length === 0) return;
    const list = await Promise.any(seeds.map((s) => this.components.endpoint.call(s, Messages.JOIN, this.self, { timeoutMs: 2_000 }))).catch(() => null);
    if (!list) {
      this.log('no seed answered (%o): starting alone', seeds);
      return;
    }
    for (const m of list) {
      if (m.id === this.self.id || this.forgotten.has(m.id)) continue;
      if (m.dead) this.addDead(m);
      else if (m.left) this.addLeft(m);
      else this.heard(m);
    }
    this.log('joined through %o: %d members', seeds, list.length);
  }

  private heartbeatAll(): void {
    const known = [...this.table.values()]
      .filter((m) => m.state === 'alive')
      .slice(0, HEARTBEAT_KNOWN_MAX)
      .map((m) => ({ id: m.id, addr: m.addr, incarnation: m.incarnation }));
    const quarantined = [...this.quarantines].slice(0, HEARTBEAT_KNOWN_MAX).map(([id, incarnation]) => ({ id, incarnation }));
    const body: HeartbeatBody = { self: this.self, known, quarantined };
    // Dead members are heartbeated too: if they are only cut off, both sides find each other again.
    this.components.endpoint.notice([...this.table.values()].map((m) => m.addr), Messages.HEARTBEAT, body);
  }

  /** First-hand news: the member itself spoke. */
  private heard(info: MemberInfo): void {
    if (info.id === this.self.id) return;
    const now = this.components.clock.now();
    const m = this.table.get(info.id);
    if (!m) {
      if (this.table.size >= MEMBERS_MAX) return;
      const q = this.quarantines.get(info.id);
      const fresh: Member = { ...info, state: q !== undefined && info.incarnation <= q ? 'quarantined' : 'alive', lastHeardAtMs: now, stateSinceMs: now };
      this.table.set(info.id, fresh);
      this.emit('member-joined', fresh);
      this.replacedAt(fresh);
      return;
    }
    if (info.incarnation < m.incarnation) return;
    const roleBefore = m.role;
    Object.assign(m, info, { lastHeardAtMs: now });
    if (roleBefore !== m.role) this.emit('role-changed', m);
    const q = this.quarantines.get(m.id);
    if (q !== undefined) {
      if (info.incarnation <= q) return; // still quarantined: heard, but not trusted
      // Back with a higher incarnation: it scrubbed itself clean on restart.
      this.quarantines.delete(m.id);
      m.state = 'alive';
      m.stateSinceMs = now;
      this.emit('quarantine-lifted', m);
      return;
    }
    if (m.state === 'suspect' || m.state === 'dead' || m.state === 'left') {
      m.state = 'alive';
      m.stateSinceMs = now;
      this.emit('member-recovered', m);
    }
  }

  /**
   * One address serves one cell: a new cell speaking from a member's address
   * (its data directory was wiped, so it came back with a new id) means that
   * member is gone. Dead at once: chunks sent to that address would reach a
   * cell that is not their home.
   */
  private replacedAt(newcomer: Member): void {
    for (const m of this.table.values()) {
      if (m.id === newcomer.id || m.addr !== newcomer.addr || m.state === 'dead' || m.state === 'quarantined') continue;
      m.state = 'dead';
      m.stateSinceMs = this.components.clock.now();
      this.log('%k replaced at %s by %k', m.id, m.addr, newcomer.id);
      this.emit('member-died', m);
    }
  }

  /** Second-hand news: only used to discover members we have never heard of. */
  private learn(k: { id: CellId; addr: Addr; incarnation: number }): void {
    if (k.id === this.self.id || this.table.has(k.id) || this.forgotten.has(k.id)) return;
    this.heard({ ...k, role: 'stem', pid: 0, chunks: 0, bytes: 0, capacityBytes: 0 });
  }

  private tick(): void {
    const now = this.components.clock.now();
    const { failureTimeoutMs, suspicionMs } = this.init.config;
    for (const m of this.table.values()) {
      const silentMs = now - m.lastHeardAtMs;
      if (m.state === 'quarantined') continue;
      if (m.state === 'alive' && silentMs > failureTimeoutMs) {
        m.state = 'suspect';
        m.stateSinceMs = now;
        this.emit('member-suspected', m);
      } else if (m.state === 'suspect' && silentMs > failureTimeoutMs + suspicionMs) {
        m.state = 'dead';
        m.stateSinceMs = now;
        this.emit('member-died', m);
      }
    }
  }

  private emit(type: MembershipEvent['type'], member: Member): void {
    this.log('%s %k at %s', type, member.id, member.addr);
    this.listeners.emit({ type, member: { ...member } });
  }
}
