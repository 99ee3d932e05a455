/*
 * ALERT        request: JSON {accused, key, digestSeen, reporter}              response: empty
 * CONFIRMED    one-way: JSON {accused, key, digestSeen, reporter, confirmer}
 */
import { isCellId, isChunkKey, type CellId, type ChunkKey } from '../../core/index.js';
import { MessageType } from '../types.js';
import { emptyCodec, type NoticeSpec, type RequestSpec } from './codec.js';
import { SMALL_JSON_BYTES_MAX, hasShape, jsonCodec, type JsonObject } from './json.js';

/** An accusation with its evidence. */
export interface Alert {
  accused: CellId;
  key: ChunkKey;
  /** SHA-256 of what the accused returned, or "corrupt" when it reported the corruption itself. */
  digestSeen: string;
  reporter: CellId;
}

/** An alert another member checked for itself against the accused. */
export interface Confirmation extends Alert {
  confirmer: CellId;
}

const DIGEST_CHARS_MAX = 64;
const ALERT_FIELDS = ['accused', 'key', 'digestSeen', 'reporter'] as const;

function alertFrom(o: JsonObject): Alert | null {
  if (!isCellId(o.accused) || !isChunkKey(o.key) || !isCellId(o.reporter)) return null;
  if (typeof o.digestSeen !== 'string' || o.digestSeen.length === 0 || o.digestSeen.length > DIGEST_CHARS_MAX) return null;
  return { accused: o.accused, key: o.key, digestSeen: o.digestSeen, reporter: o.reporter };
}

export function parseAlert(v: unknown): Alert | null {
  return hasShape(v, ALERT_FIELDS) ? alertFrom(v) : null;
}

export function parseConfirmation(v: unknown): Confirmation | null {
  if (!hasShape(v, [...ALERT_FIELDS, 'confirmer'])) return null;
  const a = alertFrom(v);
  return a && isCellId(v.confirmer) ? { ...a, confirmer: v.confirmer } : null;
}

const alertOf = ({ accused, key, digestSeen, reporter }: Alert): Alert => ({ accused, key, digestSeen, reporter });

export const ALERT: RequestSpec<Alert, void> = {
  type: MessageType.ALERT,
  request: jsonCodec(SMALL_JSON_BYTES_MAX, parseAlert, alertOf),
  response: emptyCodec,
};

export const CONFIRMED: NoticeSpec<Confirmation> = {
  type: MessageType.CONFIRMED,
  body: jsonCodec(SMALL_JSON_BYTES_MAX, parseConfirmation, (c) => ({ ...alertOf(c), confirmer: c.confirmer })),
};
