import { LRUCache } from 'lru-cache';
import {
  CellError,
  UDP_PAYLOAD_BYTES_MAX,
  logger,
  type Addr,
  type CellErrorCode,
  type CellId,
  type Clock,
  type Rng,
  type TimerHandle,
  type WireConfig,
} from '../core/index.js';
import type { Transport } from '../transport/index.js';
import {
  FLAG_RESPONSE,
  FRAGMENT_HEADER_BYTES,
  FRAME_OVERHEAD_BYTES,
  MessageType,
  ReplayGuard,
  Status,
  TimestampSource,
  decodeFragment,
  decodeFragmentAck,
  decodeFrame,
  encodeFragmentAck,
  encodeFrameParts,
  type DropReason,
  type Frame,
  type KeyRing,
} from '../wire/index.js';
import { BulkSender } from './bulk-sender.js';
import { countDrop, newCounters, type WireCounters } from './counters.js';
import { Reassembly } from './reassembly.js';
import { RttEstimator } from './rtt.js';

/** Handlers running at once; beyond this new requests are answered BUSY. */
const HANDLERS_RUNNING_MAX = 512;
/** New fragments between acks, and the delay before acking a partial run. */
const ACK_EVERY_FRAGMENTS = 4;
const ACK_DELAY_MS = 3;
const HOUSEKEEPING_MS = 1_000;
const PEER_IDLE_FORGET_MS = 120_000;

export interface EndpointComponents {
  clock: Clock;
  rng: Rng;
  transport: Transport;
}

export interface EndpointInit {
  id: CellId;
  keys: KeyRing;
  wire: WireConfig;
  logPrefix?: string;
}

export interface Incoming {
  from: Addr;
  sender: CellId;
  body: Buffer;
}

export type RequestHandler = (req: Incoming) => Promise<Buffer> | Buffer;
export type NotifyHandler = (msg: Incoming) => void;

export interface RequestOptions {
  /** Overall deadline, retries included (ms). Defaults to the config's request or bulk timeout. */
  timeoutMs?: number;
  signal?: AbortSignal;
}

interface PeerState {
  rtt: RttEstimator;
  inflight: number;
  lastUsedMs: number;
}

interface Waiter {
  peer: Addr;
  go: () => void;
}

interface Pending {
  to: Addr;
  type: MessageType;
  body: Buffer[];
  resolve: (b: Buffer) => void;
  reject: (e: Error) => void;
  attempts: number;
  firstSentMs: number;
  retransmit: TimerHandle | null;
  deadline: TimerHandle | null;
  bulk: BulkSender | null;
  /** Set once the first fragment of a bulk response arrives: the peer is answering. */
  isAnswering: boolean;
  /** While it answers: fails the request when no fragment has come for a while (a peer cut off mid-answer). */
  stall: TimerHandle | null;
}

type Executed = { state: 'running' } | { state: 'done'; status: Status; body: Buffer | null };

const STATUS_OF: Partial<Record<CellErrorCode, Status>> = {
  CHUNK_NOT_FOUND: Status.NOT_FOUND,
  CHUNK_CORRUPT: Status.CORRUPT,
  HASH_MISMATCH: Status.HASH_MISMATCH,
  STORE_FULL: Status.FULL,
  BAD_REQUEST: Status.BAD_REQUEST,
  BUSY: Status.BUSY,
  TOO_LARGE: Status.TOO_LARGE,
};

const CODE_OF: Record<Status, CellErrorCode> = {
  [Status.OK]: 'REMOTE_ERROR',
  [Status.ERROR]: 'REMOTE_ERROR',
  [Status.NOT_FOUND]: 'CHUNK_NOT_FOUND',
  [Status.CORRUPT]: 'CHUNK_CORRUPT',
  [Status.HASH_MISMATCH]: 'HASH_MISMATCH',
  [Status.FULL]: 'STORE_FULL',
  [Status.BAD_REQUEST]: 'BAD_REQUEST',
  [Status.BUSY]: 'BUSY',
  [Status.TOO_LARGE]: 'TOO_LARGE',
  [Status.UNKNOWN_TYPE]: 'BAD_REQUEST',
};

function remoteError(status: Status, peer: Addr): CellError {
  const code = CODE_OF[status] ?? 'REMOTE_ERROR';
  const err = new CellError(code, `${peer} answered ${Status[status] ?? status}`);
  err.remote = true;
  err.peer = peer;
  return err;
}

/**
 * A member's speaking and listening half of the wire: authenticated frames,
 * one-way notifications, request/response with adaptive retransmission and
 * duplicate suppression, and bulk messages as windowed, selectively
 * acknowledged fragments. Every table it keeps is bounded.
 */
export class Endpoint {
  readonly counters: WireCounters = newCounters();
  private readonly log;
  private readonly replay: ReplayGuard;
  private readonly stamps = new TimestampSource();
  private readonly handlers = new Map<MessageType, RequestHandler>();
  private readonly notifyHandlers = new Map<MessageType, NotifyHandler>();
  private readonly pending = new Map<number, Pending>();
  private readonly peers = new Map<Addr, PeerState>();
  private readonly waiting: Waiter[] = [];
  private readonly waitingPerPeer = new Map<Addr, number>();
  private inflightTotal = 0;
  /** Outgoing bulk responses, by "peer|requestId". */
  private readonly responseSenders = new Map<string, BulkSender>();
  private readonly reassemblies = new Map<string, Reassembly>();
  /** Keyed by the body's parts array: gone with the request bodies themselves. */
  private readonly bodyDigests = new WeakMap<Buffer[], (Buffer | undefined)[]>();
  private reassemblyBytes = 0;
  private readonly ackTimers = new Map<string, TimerHandle>();
  /** Transfers completed recently, so a late fragment gets a "complete" ack: key -> fragment count. */
  private readonly completed = new LRUCache<string, number>({ max: 4096, ttl: 30_000, ttlAutopurge: false });
  /** Requests executed recently, by "sender|requestId": a retry gets the cached answer, not a second execution. */
  private readonly executed: LRUCache<string, Executed>;
  private handlersRunning = 0;
  private nextRequestId: number;
  private housekeeping: TimerHandle | null = null;
  private stopped = false;
  /** Messages from senders this returns false for are dropped (quarantine). */
  acceptSender: (sender: CellId, type: MessageType) => boolean = () => true;

  constructor(private readonly components: EndpointComponents, private readonly init: EndpointInit) {
    this.log = logger('wire', init.logPrefix);
    this.replay = new ReplayGuard(init.wire.replayWindowMs);
    this.nextRequestId = 1 + components.rng.int(0x7fffffff);
    this.executed = new LRUCache<string, Executed>({
      max: init.wire.dedupEntriesMax,
      maxSize: init.wire.dedupBytesMax,
      sizeCalculation: (e) => 64 + (e.state === 'done' && e.body ? e.body.length : 0),
      ttl: init.wire.dedupTtlMs,
    });
    components.transport.onDatagram((data, from) => this.onDatagram(data, from));
    this.housekeeping = components.clock.setInterval(() => this.sweep(), HOUSEKEEPING_MS);
  }

  get id(): CellId {
    return this.init.id;
  }

  get address(): Addr {
    return this.components.transport.address;
  }

  /** The largest body that travels in one datagram; larger ones go as fragments. */
  get singleBodyBytesMax(): number {
    return this.init.wire.datagramBytesMax - FRAME_OVERHEAD_BYTES;
  }

  handle(type: MessageType, handler: RequestHandler): void {
    this.handlers.set(type, handler);
  }

  onNotify(type: MessageType, handler: NotifyHandler): void {
    this.notifyHandlers.set(type, handler);
  }

  /** Drops a request handler, if it is still the one given (so a stopped component never removes its successor's). */
  unhandle(type: MessageType, handler: RequestHandler): void {
    if (this.handlers.get(type) === handler) this.handlers.delete(type);
  }

  /** Drops a notification handler, if it is still the one given. */
  offNotify(type: MessageType, handler: NotifyHandler): void {
    if (this.notifyHandlers.get(type) === handler) this.notifyHandlers.delete(type);
  }

  /** One-way message: no retry, no answer (heartbeats). Must fit one datagram. */
  notify(to: Addr, type: MessageType, body: Buffer): void {
    if (this.stopped) return;
    if (body.length > this.singleBodyBytesMax) throw CellError.TOO_LARGE(`notify body of ${body.length} bytes`);
    this.sendFrame(to, { type, flags: 0, status: Status.OK, requestId: 0, body });
  }

  /**
   * Sends a request and resolves with the response body; rejects with a
   * CellError. A body given as parts is sent without a copy: the parts must
   * not change until the request is settled.
   */
  async request(to: Addr, type: MessageType, payload: Buffer | Buffer[], opts: RequestOptions = {}): Promise<Buffer> {
    if (this.stopped) throw CellError.STOPPED();
    const body = Array.isArray(payload) ? payload : [payload];
    let bodyBytes = 0;
    for (const part of body) bodyBytes += part.length;
    const isBulk = bodyBytes > this.singleBodyBytesMax;
    const timeoutMs = opts.timeoutMs ?? (isBulk ? this.init.wire.bulkTimeoutMs : this.init.wire.requestTimeoutMs);
    await this.acquire(to);
    const peer = this.peer(to);
    try {
      if (this.stopped) throw CellError.STOPPED();
      return await new Promise<Buffer>((resolve, reject) => {
        const requestId = this.allocateRequestId();
        const p: Pending = {
          to,
          type,
          body,
          resolve,
          reject,
          attempts: 0,
          firstSentMs: this.components.clock.now(),
          retransmit: null,
          deadline: null,
          bulk: null,
          isAnswering: false,
          stall: null,
        };
        this.pending.set(requestId, p);
        p.deadline = this.components.clock.setTimeout(() => {
          this.counters.requestsTimedOut++;
          this.settle(requestId, CellError.TIMEOUT(`${MessageType[type]} to ${to}`));
        }, timeoutMs);
        if (opts.signal) {
          if (opts.signal.aborted) return this.settle(requestId, new CellError('TIMEOUT', 'aborted'));
          opts.signal.addEventListener('abort', () => this.settle(requestId, new CellError('TIMEOUT', 'aborted')), {
            once: true,
          });
        }
        if (isBulk) this.startBulkRequest(requestId, p);
        else this.transmit(requestId, p);
      });
    } finally {
      peer.inflight--;
      this.inflightTotal--;
      peer.lastUsedMs = this.components.clock.now();
      this.release();
    }
  }

  /** Smoothed RTT to a peer in ms, if measured. */
  srttOf(to: Addr): number | null {
    return this.peers.get(to)?.rtt.srtt ?? null;
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.housekeeping?.clear();
    for (const id of [...this.pending.keys()]) this.settle(id, CellError.STOPPED());
    for (const w of this.waiting.splice(0)) {
      // Hand each waiter a slot so it can run, see STOPPED, and give the slot back.
      this.peer(w.peer).inflight++;
      this.inflightTotal++;
      w.go();
    }
    this.waitingPerPeer.clear();
    for (const s of this.responseSenders.values()) s.cancel(CellError.STOPPED());
    this.responseSenders.clear();
    for (const t of this.ackTimers.values()) t.clear();
    this.ackTimers.clear();
    this.reassemblies.clear();
    this.reassemblyBytes = 0;
    await this.components.transport.close();
  }

  // ---- sending ----

  private sendFrame(to: Addr, f: Omit<Frame, 'sender' | 'timestamp' | 'body'> & { body: Buffer | Buffer[] }, digest?: Buffer): void {
    const { body, ...header } = f;
    const parts = encodeFrameParts(
      this.init.keys,
      { ...header, sender: this.init.id, timestamp: this.stamps.next(this.components.clock.wallNow()) },
      Array.isArray(body) ? body : [body],
      digest,
    );
    this.counters.framesSent++;
    for (const p of parts) this.counters.bytesSent += p.length;
    this.components.transport.send(to, parts);
  }

  private transmit(requestId: number, p: Pending): void {
    if (p.attempts > 0) this.counters.retransmitted++;
    this.sendFrame(p.to, { type: p.type, flags: 0, status: Status.OK, requestId, body: p.body });
    const rto = this.peer(p.to).rtt.rto(p.attempts);
    p.attempts++;
    p.retransmit = this.components.clock.setTimeout(() => {
      if (!p.isAnswering) this.transmit(requestId, p);
    }, rto);
  }

  private startBulkRequest(requestId: number, p: Pending): void {
    p.attempts = 1;
    const bulk = this.newBulkSender(p.to, requestId, 0, p.type, 0, Status.OK, p.body);
    p.bulk = bulk;
    bulk.done.then(
      () => this.awaitBulkAnswer(requestId, p, 0),
      (err: Error) => this.settle(requestId, err),
    );
    bulk.start();
  }

  /** The request arrived whole; if the answer is overdue, poke the peer with a fragment (it answers from its cache). */
  private awaitBulkAnswer(requestId: number, p: Pending, pokes: number): void {
    if (!this.pending.has(requestId)) return;
    p.retransmit = this.components.clock.setTimeout(() => {
      if (!this.pending.has(requestId) || p.isAnswering) return;
      this.counters.retransmitted++;
      p.bulk?.poke();
      this.awaitBulkAnswer(requestId, p, pokes + 1);
    }, this.peer(p.to).rtt.rto(pokes + 2));
  }

  private newBulkSender(
    to: Addr,
    requestId: number,
    frameFlags: number,
    innerType: number,
    innerFlags: number,
    innerStatus: Status,
    payload: Buffer[],
  ): BulkSender {
    const peer = this.peer(to);
    return new BulkSender(this.components.clock, {
      payload,
      innerType,
      innerFlags,
      innerStatus,
      fragmentBytesMax: this.singleBodyBytesMax - FRAGMENT_HEADER_BYTES,
      windowMax: this.init.wire.bulkWindowFragmentsMax,
      deadlineMs: this.init.wire.bulkTimeoutMs,
      rto: (attempt) => peer.rtt.rto(attempt) + ACK_DELAY_MS,
      sendFragment: (body, digest) =>
        this.sendFrame(to, { type: MessageType.FRAGMENT, flags: frameFlags, status: Status.OK, requestId, body }, digest),
      digests: this.digestsOf(payload, innerFlags),
      onRetransmit: () => this.counters.retransmitted++,
      onRttSample: (ms) => peer.rtt.sample(ms),
    });
  }

  /** Fragment digests of a request body sent to several cells (a chunk put): shared, so the data is hashed once. */
  private digestsOf(payload: Buffer[], innerFlags: number): (Buffer | undefined)[] {
    if (innerFlags & FLAG_RESPONSE) return [];
    let d = this.bodyDigests.get(payload);
    if (!d) this.bodyDigests.set(payload, (d = []));
    return d;
  }

  private sendResponse(to: Addr, sender: CellId, requestId: number, type: MessageType, status: Status, body: Buffer): void {
    if (body.length <= this.singleBodyBytesMax) {
      this.sendFrame(to, { type, flags: FLAG_RESPONSE, status, requestId, body });
      return;
    }
    const key = `${sender}|${requestId}`;
    if (this.responseSenders.has(key)) return;
    const s = this.newBulkSender(to, requestId, FLAG_RESPONSE, type, FLAG_RESPONSE, status, [body]);
    this.responseSenders.set(key, s);
    s.done
      .catch((err: Error) => this.log('bulk response to %s failed: %s', to, err.message))
      .finally(() => this.responseSenders.delete(key));
    s.start();
  }

  private settle(requestId: number, result: Buffer | Error): void {
    const p = this.pending.get(requestId);
    if (!p) return;
    this.pending.delete(requestId);
    p.retransmit?.clear();
    p.deadline?.clear();
    p.stall?.clear();
    // Most bulk requests finished sending long ago: build the error (and its stack) only for one still running.
    if (p.bulk && !p.bulk.isSettled) p.bulk.cancel(CellError.STOPPED());
    const reas = `r|${requestId}`;
    if (this.reassemblies.has(reas)) this.dropReassembly(reas);
    if (result instanceof Error) p.reject(result);
    else p.resolve(result);
  }

  // ---- flow control for outgoing requests ----

  /** Takes an in-flight slot for the peer now, or queues for one (bounded). */
  private acquire(to: Addr): Promise<void> {
    const peer = this.peer(to);
    if (peer.inflight < this.init.wire.inflightPerPeerMax && this.inflightTotal < this.init.wire.inflightTotalMax) {
      peer.inflight++;
      this.inflightTotal++;
      return Promise.resolve();
    }
    const queued = this.waitingPerPeer.get(to) ?? 0;
    if (queued >= this.init.wire.peerQueueMax) {
      this.counters.busy++;
      return Promise.reject(CellError.BUSY(`queue to ${to} is full`));
    }
    this.waitingPerPeer.set(to, queued + 1);
    return new Promise<void>((resolve) => this.waiting.push({ peer: to, go: resolve }));
  }

  /** Hands a freed slot to the first waiter whose peer has room. */
  private release(): void {
    for (let i = 0; i < this.waiting.length && this.inflightTotal < this.init.wire.inflightTotalMax; i++) {
      const w = this.waiting[i]!;
      const peer = this.peer(w.peer);
      if (peer.inflight < this.init.wire.inflightPerPeerMax) {
        this.waiting.splice(i, 1);
        peer.inflight++;
        this.inflightTotal++;
        const n = (this.waitingPerPeer.get(w.peer) ?? 1) - 1;
        if (n > 0) this.waitingPerPeer.set(w.peer, n);
        else this.waitingPerPeer.delete(w.peer);
        w.go();
        return;
      }
    }
  }

  private peer(addr: Addr): PeerState {
    let p = this.peers.get(addr);
    if (!p) {
      p = { rtt: new RttEstimator(this.init.wire), inflight: 0, lastUsedMs: this.components.clock.now() };
      this.peers.set(addr, p);
    }
    return p;
  }

  private allocateRequestId(): number {
    do {
      this.nextRequestId = (this.nextRequestId % 0xffffffff) + 1;
    } while (this.pending.has(this.nextRequestId));
    return this.nextRequestId;
  }

  // ---- receiving ----

  private drop(reason: DropReason, from: Addr): void {
    countDrop(this.counters, reason);
    this.log('dropped datagram from %s: %s', from, reason);
  }

  private onDatagram(data: Buffer, from: Addr): void {
    if (this.stopped) return;
    // Any size a peer may send is accepted: --datagram-bytes limits what this process sends, and peers may differ.
    const decoded = decodeFrame(this.init.keys, data, UDP_PAYLOAD_BYTES_MAX);
    if (!decoded.ok) return this.drop(decoded.reason, from);
    const f = decoded.frame;
    const verdict = this.replay.check(f.sender, f.timestamp, this.components.clock.wallNow());
    if (verdict !== 'ok') return this.drop(verdict, from);
    if (f.sender === this.init.id) return this.drop('replayed', from);
    if (!this.acceptSender(f.sender, f.type)) return this.drop('quarantined', from);
    this.counters.framesReceived++;
    this.counters.bytesReceived += data.length;
    try {
      this.dispatch(f, from);
    } catch (err) {
      // Nothing a peer sends may crash the cell: a handler bug is logged and the frame dropped.
      this.log('error handling %s from %s: %s', MessageType[f.type], from, (err as Error).stack);
      this.drop('body', from);
    }
  }

  private dispatch(f: Frame, from: Addr): void {
    if (f.type === MessageType.FRAGMENT) return this.onFragment(f, from);
    if (f.type === MessageType.FRAGMENT_ACK) return this.onFragmentAck(f, from);
    if (f.flags & FLAG_RESPONSE) return this.onResponse(f.requestId, f.status, f.body, from);
    if (f.requestId === 0) {
      const h = this.notifyHandlers.get(f.type);
      if (!h) return this.drop('type', from);
      return h({ from, sender: f.sender, body: f.body });
    }
    this.onRequest(f.sender, f.requestId, f.type, f.body, from);
  }

  private onResponse(requestId: number, status: Status, body: Buffer, from: Addr): void {
    const p = this.pending.get(requestId);
    if (!p) return this.drop('no-request', from);
    if (p.attempts === 1) this.peer(p.to).rtt.sample(this.components.clock.now() - p.firstSentMs);
    if (status === Status.OK) this.settle(requestId, body);
    else this.settle(requestId, remoteError(status, from));
  }

  private onRequest(sender: CellId, requestId: number, type: MessageType, body: Buffer, from: Addr): void {
    const key = `${sender}|${requestId}`;
    const seen = this.executed.get(key);
    if (seen) {
      this.counters.duplicatesSuppressed++;
      if (seen.state === 'done' && seen.body) this.sendResponse(from, sender, requestId, type, seen.status, seen.body);
      return;
    }
    const handler = this.handlers.get(type);
    if (!handler) return this.sendResponse(from, sender, requestId, type, Status.UNKNOWN_TYPE, Buffer.alloc(0));
    if (this.handlersRunning >= HANDLERS_RUNNING_MAX) {
      this.counters.busy++;
      return this.sendResponse(from, sender, requestId, type, Status.BUSY, Buffer.alloc(0));
    }
    this.executed.set(key, { state: 'running' });
    this.handlersRunning++;
    void (async () => {
      let status = Status.OK;
      let out: Buffer;
      try {
        out = await handler({ from, sender, body });
      } catch (err) {
        status = (err instanceof CellError && STATUS_OF[err.code]) || Status.ERROR;
        if (status === Status.ERROR) this.log('handler %s failed: %s', MessageType[type], (err as Error).stack);
        out = Buffer.alloc(0);
      } finally {
        this.handlersRunning--;
      }
      if (this.stopped) return;
      this.counters.requestsServed++;
      // Cache small answers for retries; a bulk answer is re-sent by its own sender, so only its completion is kept.
      const cacheable = out.length <= this.singleBodyBytesMax;
      this.executed.set(key, { state: 'done', status, body: cacheable ? out : null });
      this.sendResponse(from, sender, requestId, type, status, out);
    })();
  }

  private onFragment(f: Frame, from: Addr): void {
    const frag = decodeFragment(f.body);
    if (!frag) return this.drop('body', from);
    const isResponse = (f.flags & FLAG_RESPONSE) !== 0;
    // Key by who reassembles what: requests by their sender, responses by our own request id.
    const key = isResponse ? `r|${f.requestId}` : `q|${f.sender}|${f.requestId}`;
    if (isResponse) {
      const p = this.pending.get(f.requestId);
      if (!p) return this.drop('no-request', from);
      if (!p.isAnswering) {
        // The peer is answering with a bulk message: stop retrying, and give the transfer its own deadline.
        p.isAnswering = true;
        p.retransmit?.clear();
        p.deadline?.clear();
        p.deadline = this.components.clock.setTimeout(() => {
          this.counters.requestsTimedOut++;
          this.settle(f.requestId, CellError.TIMEOUT(`${MessageType[p.type]} answer from ${p.to}`));
        }, this.init.wire.bulkTimeoutMs);
      }
      // A live sender resends what is missing within its longest RTO: two of them without a fragment mean
      // it is gone (killed, or cut off), and the caller's next replica should not wait out the whole deadline.
      p.stall?.clear();
      p.stall = this.components.clock.setTimeout(() => {
        this.counters.requestsTimedOut++;
        this.settle(f.requestId, CellError.TIMEOUT(`${MessageType[p.type]} answer from ${p.to} stalled`));
      }, Math.min(this.init.wire.bulkTimeoutMs, 2 * this.init.wire.rtoMaxMs));
    } else {
      const seen = this.executed.get(`${f.sender}|${f.requestId}`);
      if (seen) {
        // Already have this request: ack it whole, and repeat the answer if it is ready.
        this.sendAck(from, f.requestId, f.flags, frag.count, null);
        if (seen.state === 'done' && seen.body) {
          this.sendResponse(from, f.sender, f.requestId, frag.innerType, seen.status, seen.body);
        }
        return;
      }
    }
    const doneCount = this.completed.get(key);
    if (doneCount !== undefined) return this.sendAck(from, f.requestId, f.flags, doneCount, null);
    let r = this.reassemblies.get(key);
    if (!r) {
      if (this.reassemblies.size >= this.init.wire.reassembliesMax) return this.drop('reassembly-full', from);
      if (this.reassemblyBytes + frag.totalBytes > this.init.wire.reassemblyBytesMax) {
        return this.drop('reassembly-full', from);
      }
      r = new Reassembly(frag, this.components.clock.now());
      this.reassemblies.set(key, r);
      this.reassemblyBytes += r.totalBytes;
    }
    const added = r.add(frag, this.components.clock.now());
    if (added === 'bad') return this.drop('body', from);
    if (r.isComplete) {
      this.dropReassembly(key);
      this.completed.set(key, r.count);
      this.sendAck(from, f.requestId, f.flags, r.count, null);
      if (isResponse) this.onResponse(f.requestId, r.innerStatus, r.buffer, from);
      else if (r.innerFlags & FLAG_RESPONSE) this.drop('body', from);
      else this.onRequest(f.sender, f.requestId, r.innerType, r.buffer, from);
      return;
    }
    // A duplicate means our acks are not getting through: ack at once.
    if (added === 'duplicate' || r.unacked >= ACK_EVERY_FRAGMENTS) return this.ackNow(key, from, f.requestId, f.flags, r);
    if (!this.ackTimers.has(key)) {
      const reas = r;
      this.ackTimers.set(
        key,
        this.components.clock.setTimeout(() => {
          this.ackTimers.delete(key);
          if (this.reassemblies.get(key) === reas) this.ackNow(key, from, f.requestId, f.flags, reas);
        }, ACK_DELAY_MS),
      );
    }
  }

  private ackNow(key: string, to: Addr, requestId: number, flags: number, r: Reassembly): void {
    this.ackTimers.get(key)?.clear();
    this.ackTimers.delete(key);
    r.unacked = 0;
    this.sendAck(to, requestId, flags, r.count, r.bitmap);
  }

  private sendAck(to: Addr, requestId: number, flags: number, count: number, bitmap: Uint8Array | null): void {
    const body = encodeFragmentAck({
      count,
      complete: bitmap === null,
      bitmap: bitmap ?? new Uint8Array(Math.ceil(count / 8)),
    });
    this.sendFrame(to, { type: MessageType.FRAGMENT_ACK, flags: flags & FLAG_RESPONSE, status: Status.OK, requestId, body });
  }

  private onFragmentAck(f: Frame, from: Addr): void {
    const ack = decodeFragmentAck(f.body);
    if (!ack) return this.drop('body', from);
    if (f.flags & FLAG_RESPONSE) {
      this.responseSenders.get(`${f.sender}|${f.requestId}`)?.onAck(ack);
    } else {
      this.pending.get(f.requestId)?.bulk?.onAck(ack);
    }
  }

  private dropReassembly(key: string): void {
    const r = this.reassemblies.get(key);
    if (!r) return;
    this.reassemblies.delete(key);
    this.reassemblyBytes -= r.totalBytes;
    this.ackTimers.get(key)?.clear();
    this.ackTimers.delete(key);
  }

  /** Discards stalled reassemblies and forgets idle peers: every table stays bounded in time too. */
  private sweep(): void {
    const now = this.components.clock.now();
    for (const [key, r] of this.reassemblies) {
      if (now - r.lastProgressMs > this.init.wire.reassemblyTimeoutMs) {
        this.dropReassembly(key);
        countDrop(this.counters, 'reassembly-timeout');
      }
    }
    for (const [addr, p] of this.peers) {
      if (p.inflight === 0 && !this.waitingPerPeer.has(addr) && now - p.lastUsedMs > PEER_IDLE_FORGET_MS) {
        this.peers.delete(addr);
      }
    }
  }
}
