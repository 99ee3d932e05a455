import { DIRECT_ALIGN_BYTES, alignUp } from './direct-io.js';

/**
 * What a pool's buffers are: ordinary memory; shared memory (a hashing
 * thread can read it in place); or shared memory that starts on a page and
 * has room for a direct read of alignUp(bufferBytes) (directView), so that a
 * file is read into it with O_DIRECT and no copy.
 */
export type PoolMemory = 'plain' | 'shared' | 'aligned';

const WASM_PAGE_BYTES = 65536;

/**
 * Chunk-sized buffers, reused instead of allocated. Every new chunk-sized Buffer
 * is external memory to V8: allocating them at the rate chunks are read or
 * adopted makes it run mark-compacts over and over
 * (docs/decisions/0018-buffer-pools-and-off-thread-hashing.md).
 *
 * A buffer used and finished with inside one operation goes back with
 * `put`. One handed on is `lend`-ed to exactly one holder (the mount's
 * chunk cache), which `give`s it back when it drops it; it is handed out
 * again only after the current macrotask: whoever was given a cached chunk
 * copies out of it before awaiting anything else, so by then nobody can
 * still be reading it.
 */
export class BufferPool {
  private readonly free: Buffer[] = [];
  /** Lent views -> the whole buffer each is part of. */
  private readonly lent = new WeakMap<Buffer, Buffer>();
  private returning: Buffer[] = [];
  private returnScheduled = false;

  /**
   * `freeMax` bounds the buffers kept idle; more are left to the garbage
   * collector. Shared buffers can be hashed in place by another thread, but
   * V8 fills and copies shared memory byte by byte (relaxed atomics): memory
   * that is written a lot, such as dirty chunks, is better plain.
   */
  constructor(readonly bufferBytes: number, private readonly freeMax = 16, readonly memory: PoolMemory = 'shared') {}

  /** A buffer of `bufferBytes` (contents undefined). */
  take(): Buffer {
    const free = this.free.pop();
    if (free) return free;
    if (this.memory === 'plain') return Buffer.allocUnsafeSlow(this.bufferBytes);
    if (this.memory === 'shared') return Buffer.from(new SharedArrayBuffer(this.bufferBytes));
    // A WebAssembly memory starts on a page; a SharedArrayBuffer from the allocator need not.
    const pages = Math.ceil(alignUp(this.bufferBytes) / WASM_PAGE_BYTES);
    return Buffer.from(new WebAssembly.Memory({ initial: pages, maximum: pages, shared: true }).buffer, 0, this.bufferBytes);
  }

  /** A taken buffer of an 'aligned' pool as a view of alignUp(bufferBytes) bytes, for a direct read into it; null for other pools. */
  directView(whole: Buffer): Buffer | null {
    if (this.memory !== 'aligned' || whole.byteOffset % DIRECT_ALIGN_BYTES !== 0) return null;
    return Buffer.from(whole.buffer, whole.byteOffset, alignUp(this.bufferBytes));
  }

  /** Puts back a taken buffer that nobody else has seen (a read that failed or was copied). */
  put(whole: Buffer): void {
    if (this.free.length < this.freeMax && whole.length === this.bufferBytes) this.free.push(whole);
  }

  /** Hands out the first `length` bytes of a taken buffer to one holder, who gives them back with `give`. */
  lend(whole: Buffer, length: number): Buffer {
    const view = whole.subarray(0, length);
    this.lent.set(view, whole);
    return view;
  }

  /** The holder of a lent view let go of it (anything else is ignored): its buffer is reused after this macrotask. */
  give(view: Buffer): void {
    const whole = this.lent.get(view);
    if (!whole) return;
    this.lent.delete(view);
    this.putLater(whole);
  }

  /** Puts back a taken buffer that others may still be reading in this macrotask: it is reused after it. */
  putLater(whole: Buffer): void {
    this.returning.push(whole);
    if (this.returnScheduled) return;
    this.returnScheduled = true;
    setImmediate(() => {
      this.returnScheduled = false;
      for (const b of this.returning.splice(0)) this.put(b);
    });
  }

  /** Buffers ready to be taken (for tests). */
  get idle(): number {
    return this.free.length;
  }
}
