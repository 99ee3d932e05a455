/*
 * CHUNK_PUT    request: key (32 bytes, raw SHA-256) + flags u8 + replicas u8
 *              [+ leaf hashes, ceil(data/LEAF_BYTES) x 32, if flags bit 1] + data
 *                                                                   response: empty
 *              flags bit 0: the chunk is a file manifest (fsck starts from manifests)
 *              flags bit 1: the writer's leaf hashes follow (kept for range reads;
 *              a cell checks each leaf it serves against them, and recomputes
 *              them from the whole verified chunk if one does not match)
 */
import { LEAF_BYTES, type ChunkKey, type ChunkMeta } from '../../core/index.js';
import { MessageType } from '../types.js';
import { KEY_BYTES } from './chunk-key.js';
import { emptyCodec, type Codec, type RequestSpec } from './codec.js';

export const FLAG_MANIFEST = 0x01;
export const FLAG_LEAVES = 0x02;
export const PUT_HEADER_BYTES = KEY_BYTES + 2;
export const REPLICAS_MAX = 16;

export interface ChunkPut {
  key: ChunkKey;
  meta: ChunkMeta;
  /** A view into the body on decoding: never copied. */
  data: Buffer;
  leafHashes: Buffer | null;
}

/** A CHUNK_PUT body as parts: its header (and leaf hashes), then the data itself (not copied). */
export function encodePut(key: ChunkKey, data: Buffer, meta: ChunkMeta, leafHashes?: Buffer): Buffer[] {
  const header = Buffer.allocUnsafe(PUT_HEADER_BYTES);
  header.write(key, 0, KEY_BYTES, 'hex');
  header.writeUInt8((meta.isManifest ? FLAG_MANIFEST : 0) | (leafHashes ? FLAG_LEAVES : 0), KEY_BYTES);
  header.writeUInt8(meta.replicas, KEY_BYTES + 1);
  return leafHashes ? [header, leafHashes, data] : [header, data];
}

export function decodePut(body: Buffer): ChunkPut | null {
  if (body.length < PUT_HEADER_BYTES) return null;
  const flags = body.readUInt8(KEY_BYTES);
  const replicas = body.readUInt8(KEY_BYTES + 1);
  if ((flags & ~(FLAG_MANIFEST | FLAG_LEAVES)) !== 0 || replicas < 1 || replicas > REPLICAS_MAX) return null;
  let rest = body.subarray(PUT_HEADER_BYTES);
  let leafHashes: Buffer | null = null;
  if (flags & FLAG_LEAVES) {
    // n leaves of LEAF_BYTES need n x 32 bytes of hashes: solve for n from the rest's length.
    const leaves = Math.ceil(Math.max(0, rest.length - KEY_BYTES) / (LEAF_BYTES + KEY_BYTES));
    if (rest.length < leaves * KEY_BYTES || Math.ceil((rest.length - leaves * KEY_BYTES) / LEAF_BYTES) !== leaves) return null;
    leafHashes = rest.subarray(0, leaves * KEY_BYTES);
    rest = rest.subarray(leaves * KEY_BYTES);
  }
  return { key: body.toString('hex', 0, KEY_BYTES), meta: { replicas, isManifest: (flags & FLAG_MANIFEST) !== 0 }, data: rest, leafHashes };
}

const putCodec: Codec<ChunkPut> = {
  encode: (p) => encodePut(p.key, p.data, p.meta, p.leafHashes ?? undefined),
  decode: decodePut,
};

/**
 * A chunk sent to several cells is encoded once (CHUNK_PUT.request.encode)
 * and the same parts handed to each request: the endpoint hashes the
 * fragments of one body once for all of them (see Endpoint.request).
 */
export const CHUNK_PUT: RequestSpec<ChunkPut, void> = { type: MessageType.CHUNK_PUT, request: putCodec, response: emptyCodec };
