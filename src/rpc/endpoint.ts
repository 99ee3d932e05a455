import { LRUCache } from 'lru-cache';
import {
  CellError,
  Listeners,
  UDP_PAYLOAD_BYTES_MAX,
  logger,
  type Addr,
  type CellId,
  type Clock,
  type Rng,
  type TimerHandle,
  type Unsubscribe,
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
  type NoticeSpec,
  type RequestSpec,
} from '../wire/index.js';
import { ACK_DELAY_MS, BulkReceiver } from './bulk-receiver.js';
import { BulkSender } from './bulk-sender.js';
import { countDrop, newCounters, type WireCounters } from './counters.js';
import { Peers } from './peers.js';
import { malformedAnswer, remoteError, statusOfError } from './remote-error.js';
import { KeyMismatch } from './key-mismatch.js';

/** Handlers running at once; beyond this new requests are answered BUSY. */
const HANDLERS_RUNNING_MAX = 512;
const HOUSEKEEPING_MS = 1_000;

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

export interface NoticeOptions {
  /** Have the transport report, through onUnreachable, that nothing listens at the address (a probe: see SendOptions). */
  watch?: boolean;
}

export interface RequestOptions {
  /** Overall deadline, retries included (ms). Defaults to the config's request or bulk timeout. */
  timeoutMs?: number;
  signal?: AbortSignal;
  /**
   * Called as each frame of the answer arrives (one for a small answer, one
   * per fragment of a bulk one): a hedging caller tells a replica that is
   * answering slowly from one that is silent.
   */
  onProgress?: () => void;
}

export interface CallOptions extends RequestOptions {
  /**
   * The request as `spec.request.encode` wrote it, for one body sent to
   * several cells: encoded once, and a bulk body's fragments hashed once for
   * every copy (the endpoint knows a body by its parts array).
   */
  encoded?: Buffer | Buffer[];
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
  onProgress: (() => void) | undefined;
}

type Executed = { state: 'running' } | { state: 'done'; status: Status; body: Buffer | null };

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
  private readonly unreachableListeners = new Listeners<Addr>();
  private readonly pending = new Map<number, Pending>();
  private readonly peers: Peers;
  /** Outgoing bulk responses, by "peer|requestId". */
  private readonly responseSenders = new Map<string, BulkSender>();
  /** Incoming bulk messages, keyed by who reassembles what: requests by "q|sender|requestId", answers by "r|requestId". */
  private readonly bulk: BulkReceiver;
  /** Keyed by the body's parts array: gone with the request bodies themselves. */
  private readonly bodyDigests = new WeakMap<Buffer[], (Buffer | undefined)[]>();
  /** Requests executed recently, by "sender|requestId": a retry gets the cached answer, not a second execution. */
  private readonly executed: LRUCache<string, Executed>;
  private handlersRunning = 0;
  private nextRequestId: number;
  private housekeeping: TimerHandle | null = null;
  private stopped = false;
  private readonly keyMismatch: KeyMismatch;
  /** Messages from senders this returns false for are dropped (quarantine). */
  acceptSender: (sender: CellId, type: MessageType) => boolean = () => true;

  constructor(private readonly components: EndpointComponents, private readonly init: EndpointInit) {
    this.log = logger('wire', init.logPrefix);
    this.replay = new ReplayGuard(init.wire.replayWindowMs);
    this.keyMismatch = new KeyMismatch(components.clock);
    this.peers = new Peers(components.clock, init.wire, this.counters);
    this.bulk = new BulkReceiver({ clock: components.clock, wire: init.wire, sendAck: (...a) => this.sendAck(...a) });
    this.nextRequestId = 1 + components.rng.int(0x7fffffff);
    this.executed = new LRUCache<string, Executed>({
      max: init.wire.dedupEntriesMax,
      maxSize: init.wire.dedupBytesMax,
      sizeCalculation: (e) => 64 + (e.state === 'done' && e.body ? e.body.length : 0),
      ttl: init.wire.dedupTtlMs,
    });
    components.transport.onDatagram((data, from) => this.onDatagram(data, from));
    components.transport.onUnreachable((addr) => {
      this.unreachableListeners.emit(addr);
    });
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

  /** Serves requests of a type; the returned function removes this handler (not a later one for the same type). */
  handle(type: MessageType, handler: RequestHandler): Unsubscribe {
    this.handlers.set(type, handler);
    return () => {
      if (this.handlers.get(type) === handler) this.handlers.delete(type);
    };
  }

  /** Receives one-way messages of a type; the returned function removes this handler. */
  onNotify(type: MessageType, handler: NotifyHandler): Unsubscribe {
    this.notifyHandlers.set(type, handler);
    return () => {
      if (this.notifyHandlers.get(type) === handler) this.notifyHandlers.delete(type);
    };
  }

  /**
   * Serves a typed request: the handler gets the decoded request (a
   * malformed one is answered BAD_REQUEST without it) and returns the answer,
   * which the spec encodes.
   */
  serve<Q, A>(spec: RequestSpec<Q, A>, handler: (request: Q, incoming: Incoming) => A | Promise<A>): Unsubscribe {
    const encode = (answer: A) => joined(spec.response.encode(answer));
    return this.handle(spec.type, (incoming) => {
      const request = spec.request.decode(incoming.body);
      if (request === null) throw CellError.BAD_REQUEST(`malformed ${MessageType[spec.type]}`);
      const answer = handler(request, incoming);
      // Synchronous handlers (a chunk read from memory) answer without another turn of the event loop.
      return answer instanceof Promise ? answer.then(encode) : encode(answer);
    });
  }

  /**
   * Sends a typed request and resolves with its decoded, validated answer;
   * rejects with a CellError: the peer's (remote), TIMEOUT, or BAD_REQUEST
   * (remote) for an answer its decoder refused.
   */
  async call<Q, A>(to: Addr, spec: RequestSpec<Q, A>, request: Q, opts: CallOptions = {}): Promise<A> {
    const body = await this.request(to, spec.type, opts.encoded ?? spec.request.encode(request), opts);
    const answer = spec.response.decode(body, request);
    if (answer === null) throw malformedAnswer(spec.type, to);
    return answer;
  }

  /** A typed one-way message to one or several peers, encoded once. */
  notice<T>(to: Addr | readonly Addr[], spec: NoticeSpec<T>, value: T, opts?: NoticeOptions): void {
    const body = joined(spec.body.encode(value));
    for (const addr of typeof to === 'string' ? [to] : to) this.notify(addr, spec.type, body, opts);
  }

  /** Those of `addrs` that lately sent frames we could not verify: they hold another swarm key (see KeyMismatch). */
  unverifiedFrom(addrs: readonly Addr[]): Addr[] {
    return this.keyMismatch.unverifiedFrom(addrs);
  }

  /** Hears of addresses a watched notice found no process at (see NoticeOptions.watch); the returned function removes the handler. */
  onUnreachable(handler: (addr: Addr) => void): Unsubscribe {
    return this.unreachableListeners.add(handler);
  }

  /** Receives a typed one-way message; a malformed one is dropped and counted. */
  onNotice<T>(spec: NoticeSpec<T>, handler: (value: T, msg: Incoming) => void): Unsubscribe {
    return this.onNotify(spec.type, (msg) => {
      const value = spec.body.decode(msg.body);
      if (value === null) return this.drop('body', msg.from);
      handler(value, msg);
    });
  }

  /** One-way message: no retry, no answer (heartbeats). Must fit one datagram. */
  notify(to: Addr, type: MessageType, body: Buffer, opts?: NoticeOptions): void {
    if (this.stopped) return;
    if (body.length > this.singleBodyBytesMax) throw CellError.TOO_LARGE(`notify body of ${body.length} bytes`);
    this.sendFrame(to, { type, flags: 0, status: Status.OK, requestId: 0, body }, undefined, opts);
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
    await this.peers.acquire(to);
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
          onProgress: opts.onProgress,
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
      this.peers.release(to);
    }
  }

  /** Smoothed RTT to a peer in ms, if measured. */
  srttOf(to: Addr): number | null {
    return this.peers.srttOf(to);
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.housekeeping?.clear();
    for (const id of [...this.pending.keys()]) this.settle(id, CellError.STOPPED());
    this.peers.wakeAll();
    for (const s of this.responseSenders.values()) s.cancel(CellError.STOPPED());
    this.responseSenders.clear();
    this.bulk.clear();
    await this.components.transport.close();
  }

  // ---- sending ----

  private sendFrame(to: Addr, f: Omit<Frame, 'sender' | 'timestamp' | 'body'> & { body: Buffer | Buffer[] }, digest?: Buffer, opts?: NoticeOptions): void {
    const { body, ...header } = f;
    const parts = encodeFrameParts(
      this.init.keys,
      { ...header, sender: this.init.id, timestamp: this.stamps.next(this.components.clock.wallNow()) },
      Array.isArray(body) ? body : [body],
      digest,
    );
    this.counters.framesSent++;
    for (const p of parts) this.counters.bytesSent += p.length;
    this.components.transport.send(to, parts, opts);
  }

  private transmit(requestId: number, p: Pending): void {
    if (p.attempts > 0) this.counters.retransmitted++;
    this.sendFrame(p.to, { type: p.type, flags: 0, status: Status.OK, requestId, body: p.body });
    const rto = this.peers.get(p.to).rtt.rto(p.attempts);
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
    }, this.peers.get(p.to).rtt.rto(pokes + 2));
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
    const peer = this.peers.get(to);
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
    this.bulk.drop(`r|${requestId}`);
    if (result instanceof Error) p.reject(result);
    else p.resolve(result);
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
    if (!decoded.ok) {
      if (decoded.reason === 'tag' && this.keyMismatch.unverified(data, from)) {
        this.sendFrame(from, { type: MessageType.KEY_MISMATCH, flags: 0, status: Status.OK, requestId: 0, body: Buffer.alloc(0) });
      }
      return this.drop(decoded.reason, from);
    }
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
    if (p.attempts === 1) this.peers.get(p.to).rtt.sample(this.components.clock.now() - p.firstSentMs);
    if (!p.isAnswering) p.onProgress?.();
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
        status = statusOfError(err);
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
      p.onProgress?.();
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
    const whole = this.bulk.add(key, frag, from, f.requestId, f.flags);
    if (whole === null) return;
    if (typeof whole === 'string') return this.drop(whole, from);
    if (isResponse) this.onResponse(f.requestId, whole.innerStatus, whole.buffer, from);
    else if (whole.innerFlags & FLAG_RESPONSE) this.drop('body', from);
    else this.onRequest(f.sender, f.requestId, whole.innerType, whole.buffer, from);
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

  /** Discards stalled reassemblies and forgets idle peers: every table stays bounded in time too. */
  private sweep(): void {
    const now = this.components.clock.now();
    for (let n = this.bulk.sweep(now); n > 0; n--) countDrop(this.counters, 'reassembly-timeout');
    this.peers.sweep(now);
  }
}

/** A body given as parts, as one buffer (answers travel whole). */
function joined(body: Buffer | Buffer[]): Buffer {
  return Array.isArray(body) ? (body.length === 1 ? body[0]! : Buffer.concat(body)) : body;
}
