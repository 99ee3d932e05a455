import { CellError, type Clock, type TimerHandle } from '../core/index.js';
import { bitGet, bodyDigest, encodeFragmentParts, fragmentIsChunkData, type FragmentAck } from '../wire/index.js';

/** Fragments acknowledged after a missing one before it is taken as lost (reordering tolerance). */
const REORDER_TOLERANCE = 3;
const WINDOW_INITIAL = 16;

export interface BulkSenderInit {
  /** The message, as parts sent without a copy (they must not change until the transfer is settled). */
  payload: Buffer[];
  innerType: number;
  innerFlags: number;
  innerStatus: number;
  /** Largest fragment data per datagram. */
  fragmentBytesMax: number;
  windowMax: number;
  deadlineMs: number;
  /** Current retransmission timeout for this peer, per backoff attempt. */
  rto: (attempt: number) => number;
  /** Sends one FRAGMENT body, given as parts (header, data), with the digest its MAC covers (none for chunk data). */
  sendFragment: (body: Buffer[], digest: Buffer | undefined) => void;
  /** Body digests by fragment index, shared by every sender of the same payload (computed once for R copies). */
  digests: (Buffer | undefined)[];
  onRetransmit: () => void;
  /** A round-trip measurement from a fragment sent once and acknowledged (Karn's rule). */
  onRttSample: (ms: number) => void;
}

/**
 * One outgoing message cut into fragments: a congestion window that grows
 * while acks flow and halves on loss, selective acks, fast retransmission of
 * holes and a timeout that resends what is still unacknowledged.
 */
export class BulkSender {
  readonly count: number;
  private readonly total: number;
  private readonly per: number;
  private readonly acked: Uint8Array;
  private ackedCount = 0;
  /** Send order of each fragment's latest transmission; 0 = not in flight. */
  private readonly sendSeq: Float64Array;
  /** When each fragment was last sent, and how often (for RTT samples). */
  private readonly sentAtMs: Float64Array;
  private readonly sends: Uint8Array;
  private nextSeq = 1;
  private nextUnsent = 0;
  private readonly lost: number[] = [];
  private inflight = 0;
  private window = WINDOW_INITIAL;
  private timeouts = 0;
  private rtoTimer: TimerHandle | null = null;
  private deadline: TimerHandle | null = null;
  private settled = false;
  readonly done: Promise<void>;
  private resolve!: () => void;
  private reject!: (e: Error) => void;

  constructor(private readonly clock: Clock, private readonly init: BulkSenderInit) {
    const total = init.payload.reduce((n, p) => n + p.length, 0);
    this.total = total;
    this.count = Math.ceil(total / init.fragmentBytesMax);
    // Equal-sized fragments, so the receiver can place fragment i at i * per.
    this.per = Math.ceil(total / this.count);
    this.acked = new Uint8Array(Math.ceil(this.count / 8));
    this.sendSeq = new Float64Array(this.count);
    this.sentAtMs = new Float64Array(this.count);
    this.sends = new Uint8Array(this.count);
    this.done = new Promise<void>((res, rej) => {
      this.resolve = res;
      this.reject = rej;
    });
    this.done.catch(() => {});
  }

  start(): void {
    this.deadline = this.clock.setTimeout(() => this.fail(CellError.TIMEOUT('bulk transfer')), this.init.deadlineMs);
    this.pump();
  }

  /** Resends the final fragment: used to poke a receiver whose answer is overdue. */
  poke(): void {
    if (!this.settled) return;
    this.send(this.count - 1);
  }

  onAck(ack: FragmentAck): void {
    if (this.settled || ack.count !== this.count) return;
    let newly = 0;
    let highestAckedSeq = 0;
    let rttSampleMs = -1;
    for (let i = 0; i < this.count; i++) {
      if (!(ack.complete || bitGet(ack.bitmap, i))) continue;
      if (!bitGet(this.acked, i)) {
        this.acked[i >> 3]! |= 1 << (i & 7);
        this.ackedCount++;
        newly++;
        if (this.sendSeq[i]! > 0) this.inflight--;
        if (this.sends[i] === 1) rttSampleMs = this.clock.now() - this.sentAtMs[i]!;
      }
      highestAckedSeq = Math.max(highestAckedSeq, this.sendSeq[i]!);
      this.sendSeq[i] = 0;
    }
    if (rttSampleMs >= 0) this.init.onRttSample(rttSampleMs);
    if (this.ackedCount === this.count) return this.finish();
    let loss = false;
    for (let i = 0; i < this.count; i++) {
      const seq = this.sendSeq[i]!;
      if (seq > 0 && seq + REORDER_TOLERANCE <= highestAckedSeq) {
        this.sendSeq[i] = 0;
        this.inflight--;
        this.lost.push(i);
        loss = true;
      }
    }
    if (loss) this.window = Math.max(2, Math.floor(this.window / 2));
    else if (newly > 0) this.window = Math.min(this.init.windowMax, this.window + newly);
    if (newly > 0) {
      this.timeouts = 0;
      this.armRto();
    }
    this.pump();
  }

  /** True once every fragment is acknowledged, or the transfer failed or was cancelled. */
  get isSettled(): boolean {
    return this.settled;
  }

  cancel(err: Error): void {
    this.fail(err);
  }

  private pump(): void {
    while (this.inflight < this.window) {
      let i: number | undefined;
      while (this.lost.length > 0) {
        const j = this.lost.shift()!;
        if (!bitGet(this.acked, j) && this.sendSeq[j] === 0) {
          i = j;
          this.init.onRetransmit();
          break;
        }
      }
      if (i === undefined) {
        if (this.nextUnsent >= this.count) break;
        i = this.nextUnsent++;
      }
      this.sendSeq[i] = this.nextSeq++;
      this.sentAtMs[i] = this.clock.now();
      this.sends[i] = Math.min(255, this.sends[i]! + 1);
      this.inflight++;
      this.send(i);
    }
    if (!this.rtoTimer) this.armRto();
  }

  private armRto(): void {
    this.rtoTimer?.clear();
    this.rtoTimer = this.clock.setTimeout(() => this.onRto(), this.init.rto(this.timeouts));
  }

  /** Nothing acknowledged for a whole RTO: everything in flight is presumed lost. */
  private onRto(): void {
    this.rtoTimer = null;
    if (this.settled) return;
    this.timeouts++;
    for (let i = 0; i < this.count; i++) {
      if (this.sendSeq[i]! > 0) {
        this.sendSeq[i] = 0;
        this.lost.push(i);
      }
    }
    this.inflight = 0;
    this.window = 2;
    this.pump();
  }

  private send(i: number): void {
    const body = this.encode(i);
    if (fragmentIsChunkData(this.init.innerType, this.init.innerFlags, i)) return this.init.sendFragment(body, undefined);
    const digests = this.init.digests;
    let digest = digests[i];
    if (!digest) digests[i] = digest = bodyDigest(body);
    this.init.sendFragment(body, digest);
  }

  private encode(i: number): Buffer[] {
    const start = i * this.per;
    return encodeFragmentParts({
      innerType: this.init.innerType,
      innerFlags: this.init.innerFlags,
      innerStatus: this.init.innerStatus,
      totalBytes: this.total,
      index: i,
      count: this.count,
      data: sliceParts(this.init.payload, start, Math.min(start + this.per, this.total)),
    });
  }

  private finish(): void {
    this.clearTimers();
    this.settled = true;
    this.resolve();
  }

  private fail(err: Error): void {
    if (this.settled) return;
    this.clearTimers();
    this.settled = true;
    this.reject(err);
  }

  private clearTimers(): void {
    this.rtoTimer?.clear();
    this.rtoTimer = null;
    this.deadline?.clear();
    this.deadline = null;
  }
}

/** Bytes [start, end) of a message given as parts, as views of those parts (no copy). */
function sliceParts(parts: Buffer[], start: number, end: number): Buffer[] {
  const out: Buffer[] = [];
  let offset = 0;
  for (const p of parts) {
    const from = Math.max(start, offset);
    const to = Math.min(end, offset + p.length);
    if (from < to) out.push(p.subarray(from - offset, to - offset));
    offset += p.length;
    if (offset >= end) break;
  }
  return out;
}
