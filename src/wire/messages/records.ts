/*
 * Namespace records as they travel (namespace/ gives them meaning):
 *
 * REC_PUT      request: JSON [{k, v, d}] records to merge             response: empty
 * REC_WRITE    request: JSON [{k, v, d}] a writer's quorum write       response: empty
 *              (merged as REC_PUT; what it replaced is kept a while for REC_UNDO)
 * REC_UNDO     request: JSON [{k, v}] versions a failed write wrote   response: empty
 *              (each key still at v goes back to what REC_WRITE replaced)
 * REC_GET      request: JSON [k]                                      response: JSON [{k, v, d} | null], one per key
 * REC_SCAN     request: JSON {prefix, after, limit?}                  response: JSON [{k, v, d}], keys ascending
 * REC_SYNC     request: JSON [{k, v}] what the sender holds           response: JSON [index], those the receiver
 *                                                                     lacks or holds older (anti-entropy)
 *
 * k: i/<ino> or d/<parent ino>/<name>; v: a hybrid logical clock stamp
 * (namespace/hlc.ts); d: the value, an object, or null for a tombstone.
 */
import { MESSAGE_BYTES_MAX } from '../../core/index.js';
import { MessageType } from '../types.js';
import { emptyCodec, type RequestSpec } from './codec.js';
import { arrayOf, hasShape, isCount, isObject, isText, jsonCodec } from './json.js';

/** A record as stored and sent: key, version, value (null = tombstone). */
export interface RecordEnvelope {
  k: string;
  v: string;
  d: unknown;
}

/** Records a single message may carry. */
export const RECORDS_PER_MESSAGE_MAX = 512;
const KEY_CHARS_MAX = 1024;

export function isRecordKey(k: unknown): k is string {
  return typeof k === 'string' && k.length <= KEY_CHARS_MAX && /^(i\/(?:[0-9a-f]{16}|[0-9a-f]{24})|d\/(?:[0-9a-f]{16}|[0-9a-f]{24})\/[^/\0]+)$/.test(k);
}

/** A version stamp, "<wall ms, 12 hex>.<counter, 6 hex>.<node id>": string order is causal order (namespace/hlc.ts). */
export function parseVersionStamp(stamp: string): { wallMs: number; counter: number; node: string } | null {
  const m = /^([0-9a-f]{12})\.([0-9a-f]{6})\.([0-9a-f]{1,32})$/.exec(stamp);
  return m ? { wallMs: parseInt(m[1]!, 16), counter: parseInt(m[2]!, 16), node: m[3]! } : null;
}

export function isVersionStamp(s: unknown): s is string {
  return typeof s === 'string' && parseVersionStamp(s) !== null;
}

export function isEnvelope(v: unknown): v is RecordEnvelope {
  return hasShape(v, ['k', 'v', 'd']) && isRecordKey(v.k) && isVersionStamp(v.v) && (v.d === null || isObject(v.d));
}

const envelope = (v: unknown): RecordEnvelope | null => (isEnvelope(v) ? { k: v.k, v: v.v, d: v.d } : null);
const envelopeOf = ({ k, v, d }: RecordEnvelope): RecordEnvelope => ({ k, v, d });
const records = (v: unknown) => arrayOf(v, RECORDS_PER_MESSAGE_MAX, envelope);

export const REC_PUT: RequestSpec<RecordEnvelope[], void> = {
  type: MessageType.REC_PUT,
  request: jsonCodec(MESSAGE_BYTES_MAX, records, (list) => list.map(envelopeOf)),
  response: emptyCodec,
};

/** A quorum write: merged as REC_PUT, and undoable for a while (REC_UNDO) if it fails to reach a majority. */
export const REC_WRITE: RequestSpec<RecordEnvelope[], void> = { ...REC_PUT, type: MessageType.REC_WRITE };

export const REC_GET: RequestSpec<string[], (RecordEnvelope | null)[]> = {
  type: MessageType.REC_GET,
  request: jsonCodec(MESSAGE_BYTES_MAX, (v) => arrayOf(v, RECORDS_PER_MESSAGE_MAX, (k) => (isRecordKey(k) ? k : null))),
  // One answer per key asked, in order.
  response: jsonCodec(
    MESSAGE_BYTES_MAX,
    (v, keys: string[]) => {
      if (!Array.isArray(v) || v.length !== keys.length) return null;
      const out: (RecordEnvelope | null)[] = [];
      for (const [i, r] of v.entries()) {
        const e = r === null ? null : envelope(r);
        if (r !== null && e?.k !== keys[i]) return null;
        out.push(e);
      }
      return out;
    },
    (list) => list.map((r) => (r ? envelopeOf(r) : null)),
  ),
};

export interface ScanRequest {
  prefix: string;
  /** The last key of the previous page, or null for the first. */
  after: string | null;
  /** Records wanted at most (the cell answers no more than RECORDS_PER_MESSAGE_MAX either way). */
  limit?: number;
}

function parseScan(v: unknown): ScanRequest | null {
  if (!hasShape(v, ['prefix', 'after'], ['limit'])) return null;
  if (!isText(v.prefix, KEY_CHARS_MAX) || !(v.after === null || isText(v.after, KEY_CHARS_MAX))) return null;
  if (v.limit === undefined) return { prefix: v.prefix, after: v.after };
  return isCount(v.limit) && v.limit >= 1 && v.limit <= RECORDS_PER_MESSAGE_MAX ? { prefix: v.prefix, after: v.after, limit: v.limit } : null;
}

export const REC_SCAN: RequestSpec<ScanRequest, RecordEnvelope[]> = {
  type: MessageType.REC_SCAN,
  request: jsonCodec(KEY_CHARS_MAX * 4, parseScan, ({ prefix, after, limit }) => ({ prefix, after, ...(limit !== undefined ? { limit } : {}) })),
  response: jsonCodec(MESSAGE_BYTES_MAX, records, (list) => list.map(envelopeOf)),
};

/** A record offered in anti-entropy: its key and version, not its value. */
export interface RecordVersion {
  k: string;
  v: string;
}

const version = (x: unknown): RecordVersion | null => (hasShape(x, ['k', 'v']) && isRecordKey(x.k) && isVersionStamp(x.v) ? { k: x.k, v: x.v } : null);

export const REC_SYNC: RequestSpec<RecordVersion[], number[]> = {
  type: MessageType.REC_SYNC,
  request: jsonCodec(MESSAGE_BYTES_MAX, (v) => arrayOf(v, RECORDS_PER_MESSAGE_MAX, version), (list) => list.map(({ k, v }) => ({ k, v }))),
  // Indexes into the offer, each at most once.
  response: jsonCodec(MESSAGE_BYTES_MAX, (v, offered: RecordVersion[]) => {
    const seen = new Set<number>();
    return arrayOf(v, offered.length, (i) => (isCount(i) && i < offered.length && !seen.has(i) && seen.add(i) ? i : null));
  }),
};

/** Undoes REC_WRITEs that did not reach a majority: the versions they wrote. */
export const REC_UNDO: RequestSpec<RecordVersion[], void> = {
  type: MessageType.REC_UNDO,
  request: REC_SYNC.request,
  response: emptyCodec,
};
