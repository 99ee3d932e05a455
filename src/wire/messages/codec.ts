import type { MessageType } from '../types.js';

/**
 * How one message body is written and read. `encode` may return parts (sent
 * without a copy: a chunk's header, its leaf hashes, then its data); `decode`
 * is strict and never throws: anything malformed, oversized or with a field
 * it does not know is null. A decoder returns views into the body where it
 * can (chunk data is never copied).
 */
export interface Codec<T, Context = void> {
  encode(value: T): Buffer | Buffer[];
  /** An answer's decoder is given its request: what it must match (as many bits as keys asked). */
  decode(body: Buffer, context: Context): T | null;
}

/** A request and its answer, by message type: what `Endpoint.call` and `Endpoint.serve` speak. */
export interface RequestSpec<Request, Answer> {
  readonly type: MessageType;
  readonly request: Codec<Request>;
  readonly response: Codec<Answer, Request>;
}

/** A one-way message (no answer, no retry): what `Endpoint.notice` and `Endpoint.onNotice` speak. */
export interface NoticeSpec<Body> {
  readonly type: MessageType;
  readonly body: Codec<Body>;
}

const NOTHING = Buffer.alloc(0);

/** An empty body (PING, an answer that only says "done"); anything in it is malformed. */
export const emptyCodec: Codec<void, unknown> = {
  encode: () => NOTHING,
  decode: (body) => (body.length === 0 ? undefined : null),
};

/** The body itself, not copied: chunk data, checked against its key by whoever uses it. */
export const rawCodec: Codec<Buffer, unknown> = {
  encode: (data) => data,
  decode: (body) => body,
};

/** The body as one buffer (a spec's encoded parts, joined: for tests and small messages, never chunk data). */
export function encodeWhole<T>(codec: Codec<T, never>, value: T): Buffer {
  const body = codec.encode(value);
  return Array.isArray(body) ? Buffer.concat(body) : body;
}
