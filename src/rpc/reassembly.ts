import { bitGet, bitSet, type Fragment } from '../wire/index.js';

/** One incoming message being put back together from its fragments. */
export class Reassembly {
  readonly buffer: Buffer;
  readonly bitmap: Uint8Array;
  receivedCount = 0;
  /** New fragments since the last ack we sent. */
  unacked = 0;
  lastProgressMs: number;
  private readonly per: number;

  constructor(first: Fragment, nowMs: number) {
    this.buffer = Buffer.allocUnsafe(first.totalBytes);
    this.bitmap = new Uint8Array(Math.ceil(first.count / 8));
    this.per = Math.ceil(first.totalBytes / first.count);
    this.lastProgressMs = nowMs;
    this.innerType = first.innerType;
    this.innerFlags = first.innerFlags;
    this.innerStatus = first.innerStatus;
    this.count = first.count;
    this.totalBytes = first.totalBytes;
  }

  readonly innerType: number;
  readonly innerFlags: number;
  readonly innerStatus: number;
  readonly count: number;
  readonly totalBytes: number;

  get isComplete(): boolean {
    return this.receivedCount === this.count;
  }

  /** 'bad' when the fragment contradicts the message it claims to belong to. */
  add(f: Fragment, nowMs: number): 'new' | 'duplicate' | 'bad' {
    if (
      f.count !== this.count ||
      f.totalBytes !== this.totalBytes ||
      f.innerType !== this.innerType ||
      f.innerFlags !== this.innerFlags ||
      f.innerStatus !== this.innerStatus
    ) {
      return 'bad';
    }
    const offset = f.index * this.per;
    const expected = Math.min(this.per, this.totalBytes - offset);
    if (expected <= 0 || f.data.length !== expected) return 'bad';
    if (bitGet(this.bitmap, f.index)) return 'duplicate';
    f.data.copy(this.buffer, offset);
    bitSet(this.bitmap, f.index);
    this.receivedCount++;
    this.unacked++;
    this.lastProgressMs = nowMs;
    return 'new';
  }
}
