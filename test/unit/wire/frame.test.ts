import test from 'ava';
import { randomBytes } from 'node:crypto';
import { newCellId } from '../../../src/core/index.js';
import {
  FRAME_OVERHEAD_BYTES,
  KeyRing,
  MessageType,
  ReplayGuard,
  Status,
  TIMESTAMP_TICKS_PER_MS,
  TimestampSource,
  decodeFragment,
  decodeFragmentAck,
  decodeFrame,
  encodeFragment,
  encodeFragmentAck,
  encodeFrame,
  encodeFrameParts,
  type Frame,
} from '../../../src/wire/index.js';

const key = randomBytes(32);
const keys = new KeyRing([key]);
const MAX = 60 * 1024;

function frame(over: Partial<Frame> = {}): Frame {
  return {
    type: MessageType.CHUNK_GET,
    flags: 0,
    status: Status.OK,
    sender: newCellId(),
    requestId: 42,
    timestamp: Date.now() * TIMESTAMP_TICKS_PER_MS,
    body: Buffer.from('hello'),
    ...over,
  };
}

test('a frame round-trips every field', (t) => {
  const f = frame({ flags: 1, status: Status.NOT_FOUND, requestId: 0xfffffffe });
  const d = decodeFrame(keys, encodeFrame(keys, f), MAX);
  t.true(d.ok);
  if (d.ok) t.deepEqual({ ...d.frame, body: d.frame.body.toString() }, { ...f, body: 'hello' });
});

test('an empty body and a full-size body both round-trip', (t) => {
  for (const n of [0, MAX - FRAME_OVERHEAD_BYTES]) {
    const body = randomBytes(n);
    const d = decodeFrame(keys, encodeFrame(keys, frame({ body })), MAX);
    t.true(d.ok && d.frame.body.equals(body), `body of ${n} bytes`);
  }
});

test('every kind of bad datagram is a drop reason, never an exception', (t) => {
  const good = encodeFrame(keys, frame());
  const reason = (buf: Buffer) => {
    const d = decodeFrame(keys, buf, MAX);
    return d.ok ? 'accepted' : d.reason;
  };
  t.is(reason(Buffer.alloc(0)), 'short');
  t.is(reason(good.subarray(0, 20)), 'short');
  t.is(reason(good.subarray(0, good.length - 1)), 'length');
  t.is(reason(Buffer.concat([good, Buffer.from([0])])), 'length');
  t.is(reason(Buffer.alloc(MAX + 1)), 'oversize');
  const badMagic = Buffer.from(good);
  badMagic[0] = 0;
  t.is(reason(badMagic), 'magic');
  const badVersion = Buffer.from(good);
  badVersion[2] = 9;
  t.is(reason(badVersion), 'version');
  const flipped = Buffer.from(good);
  flipped[30] ^= 1;
  t.is(reason(flipped), 'tag');
  t.is(reason(encodeFrame(new KeyRing([randomBytes(32)]), frame())), 'tag');
  t.is(reason(encodeFrame(keys, frame({ type: 200 as MessageType }))), 'type');
  for (let i = 0; i < 2000; i++) t.not(reason(randomBytes(1 + (i % 300))), 'accepted');
});

test('a key ring accepts its old key while signing with the new one', (t) => {
  const old = randomBytes(32);
  const rotated = new KeyRing([randomBytes(32), old]);
  t.true(decodeFrame(rotated, encodeFrame(new KeyRing([old]), frame()), MAX).ok);
  t.false(decodeFrame(new KeyRing([old]), encodeFrame(rotated, frame()), MAX).ok);
});

test('the replay guard accepts a frame once and refuses stale timestamps', (t) => {
  const g = new ReplayGuard(30_000);
  const now = 1_700_000_000_000;
  const src = new TimestampSource();
  const a = src.next(now);
  const b = src.next(now);
  t.true(b > a);
  t.is(g.check('aa', a, now), 'ok');
  t.is(g.check('aa', a, now), 'replayed');
  t.is(g.check('bb', a, now), 'ok', 'another sender may use the same timestamp');
  t.is(g.check('aa', b, now), 'ok');
  t.is(g.check('aa', (now - 31_000) * TIMESTAMP_TICKS_PER_MS, now), 'stale');
  t.is(g.check('aa', (now + 31_000) * TIMESTAMP_TICKS_PER_MS, now), 'stale');
});

test('fragments and acks round-trip and reject inconsistent headers', (t) => {
  const data = randomBytes(100);
  const f = { innerType: 5, innerFlags: 1, innerStatus: 0, totalBytes: 1000, index: 3, count: 10, data };
  const d = decodeFragment(encodeFragment(f));
  t.truthy(d);
  t.deepEqual({ ...d!, data: Buffer.from(d!.data) }, f);
  t.is(decodeFragment(encodeFragment({ ...f, index: 10 })), null);
  t.is(decodeFragment(encodeFragment({ ...f, count: 0, index: 0 })), null);
  t.is(decodeFragment(Buffer.alloc(5)), null);
  const bitmap = new Uint8Array([0b101, 0b10]);
  const a = decodeFragmentAck(encodeFragmentAck({ count: 10, complete: false, bitmap }));
  t.deepEqual([...a!.bitmap], [0b101, 0b10]);
  t.is(decodeFragmentAck(Buffer.concat([encodeFragmentAck({ count: 10, complete: false, bitmap }), Buffer.alloc(1)])), null);
});

test('a FRAGMENT frame is MACed over its header and body digest: a changed body or header is refused', (t) => {
  // Fragment 1 of a REC_PUT batch: not chunk data, so the whole body counts.
  const body = encodeFragment({ innerType: MessageType.REC_PUT, innerFlags: 0, innerStatus: 0, totalBytes: 10_000, index: 1, count: 2, data: randomBytes(5000) });
  const f = frame({ type: MessageType.FRAGMENT, body });
  const good = Buffer.concat(encodeFrameParts(keys, f, [body.subarray(0, 100), body.subarray(100)]));
  const d = decodeFrame(keys, good, MAX);
  t.true(d.ok && d.frame.body.equals(body), 'a body sent as parts arrives whole');
  const flippedBody = Buffer.from(good);
  flippedBody[28 + 4000]! ^= 1;
  t.deepEqual(decodeFrame(keys, flippedBody, MAX), { ok: false, reason: 'tag' });
  const flippedType = Buffer.from(good);
  flippedType[3] = MessageType.CHUNK_PUT;
  t.deepEqual(decodeFrame(keys, flippedType, MAX), { ok: false, reason: 'tag' }, 'the MAC mode cannot be switched by the type byte');
  const asChunk = Buffer.from(good);
  asChunk[28] = MessageType.CHUNK_PUT;
  t.deepEqual(decodeFrame(keys, asChunk, MAX), { ok: false, reason: 'tag' }, 'nor by the fragment\'s inner type');
});

test('chunk data (fragments after the first of a CHUNK_PUT or a CHUNK_GET answer) is MACed over the headers only; fragment 0 whole', (t) => {
  const fragment = (index: number) =>
    encodeFragment({ innerType: MessageType.CHUNK_PUT, innerFlags: 0, innerStatus: 0, totalBytes: 10_000, index, count: 2, data: randomBytes(5000) });
  const signed = (body: Buffer) => Buffer.concat(encodeFrameParts(keys, frame({ type: MessageType.FRAGMENT, body }), [body]));
  const data = signed(fragment(1));
  const changedData = Buffer.from(data);
  changedData[28 + 4000]! ^= 1;
  t.true(decodeFrame(keys, changedData, MAX).ok, 'chunk bytes are left to the receiver\'s hash check');
  const changedIndex = Buffer.from(data);
  changedIndex[28 + 9]! ^= 1;
  t.deepEqual(decodeFrame(keys, changedIndex, MAX), { ok: false, reason: 'tag' }, 'the fragment header is covered');
  const first = signed(fragment(0));
  const changedFirst = Buffer.from(first);
  changedFirst[28 + 20]! ^= 1;
  t.deepEqual(decodeFrame(keys, changedFirst, MAX), { ok: false, reason: 'tag' }, 'fragment 0 (the put\'s key and metadata) is covered whole');
});

test('the replay guard holds windows only for senders heard, and forgets the least recently heard past its bound', (t) => {
  const g = new ReplayGuard(30_000, 2);
  const now = 1_700_000_000_000;
  const ts = now * TIMESTAMP_TICKS_PER_MS;
  t.is(g.sendersHeard, 0);
  t.is(g.check('aa', ts, now), 'ok');
  t.is(g.check('bb', ts, now), 'ok');
  t.is(g.check('aa', ts + 1, now), 'ok'); // aa heard last: bb is the least recent
  t.is(g.check('cc', ts, now), 'ok');
  t.is(g.sendersHeard, 2);
  t.is(g.check('aa', ts, now), 'replayed', 'a recently heard sender keeps its window');
  t.is(g.check('bb', ts, now), 'ok', 'the least recently heard was forgotten');
});

test('the replay guard forgets a sender once all its frames are stale, and still refuses them', (t) => {
  const g = new ReplayGuard(30_000);
  const now = 1_700_000_000_000;
  const old = now * TIMESTAMP_TICKS_PER_MS;
  t.is(g.check('aa', old, now), 'ok');
  t.is(g.check('bb', (now + 20_000) * TIMESTAMP_TICKS_PER_MS, now + 20_000), 'ok');
  t.is(g.sendersHeard, 2);
  t.is(g.check('cc', (now + 30_001) * TIMESTAMP_TICKS_PER_MS, now + 30_001), 'ok');
  t.is(g.sendersHeard, 2, 'aa, heard last 30.001 s ago, is forgotten');
  t.is(g.check('aa', old, now + 30_001), 'stale', 'its frames are refused by their age');
  t.is(g.check('bb', (now + 20_000) * TIMESTAMP_TICKS_PER_MS, now + 30_001), 'replayed', 'bb, heard 10 s ago, keeps its window');
});
