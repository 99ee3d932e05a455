/*
 * CHUNK_GET    request: key (32)                 response: data (chunk data: see frame.ts)
 * CHUNK_PROBE  request: key (32)                 response: data, MACed whole (a guard's
 *              verdict must not be forgeable in flight: see frame.ts)
 * CHUNK_DELETE request: key (32)                 response: 1 byte, 1 if it existed
 *
 * The data is handed on as it arrived, not copied: the reader checks it
 * against its key (a guard judges it by that).
 */
import type { ChunkKey } from '../../core/index.js';
import { MessageType } from '../types.js';
import { keyCodec } from './chunk-key.js';
import { rawCodec, type Codec, type RequestSpec } from './codec.js';

export const CHUNK_GET: RequestSpec<ChunkKey, Buffer> = { type: MessageType.CHUNK_GET, request: keyCodec, response: rawCodec };
export const CHUNK_PROBE: RequestSpec<ChunkKey, Buffer> = { type: MessageType.CHUNK_PROBE, request: keyCodec, response: rawCodec };

const existedCodec: Codec<boolean, unknown> = {
  encode: (existed) => Buffer.from([existed ? 1 : 0]),
  decode: (body) => (body.length === 1 && body[0]! <= 1 ? body[0] === 1 : null),
};

export const CHUNK_DELETE: RequestSpec<ChunkKey, boolean> = { type: MessageType.CHUNK_DELETE, request: keyCodec, response: existedCodec };
