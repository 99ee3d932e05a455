/**
 * Message types. APPEND-ONLY: the numbers are on the wire; never renumber,
 * never reuse a retired value.
 */
export enum MessageType {
  HEARTBEAT = 1,
  JOIN = 2,
  STATUS = 3,
  CHUNK_PUT = 4,
  CHUNK_GET = 5,
  CHUNK_HAS = 6,
  CHUNK_DELETE = 7,
  FRAGMENT = 8,
  FRAGMENT_ACK = 9,
  PING = 10,
  CHUNK_LIST = 11,
  MEMBERS = 12,
  REC_PUT = 13,
  REC_GET = 14,
  REC_SCAN = 15,
  REC_SYNC = 16,
  ALERT = 17,
  CONFIRMED = 18,
  FAULTS = 19,
  CHUNK_PROBE = 20,
  CHUNK_RANGE = 21,
  LOCAL_GRANT = 22,
  CHUNK_ADOPT = 23,
  CHUNK_COLLECT = 24,
  CHUNK_CLAIM = 25,
  FORGET = 26,
  REC_WRITE = 27,
  REC_UNDO = 28,
  LEAVE = 29,
  PROBE = 30,
  PROBE_ACK = 31,
  PROBE_REQ = 32,
  PUSH_PULL = 33,
  GOSSIP = 34,
  VIEW_WATCH = 35,
  VIEW_RENEW = 36,
  VIEW_NEWS = 37,
  /** One-way, empty: "your frame did not verify with my key" (rpc/key-mismatch.ts). */
  KEY_MISMATCH = 38,
  /** A held chunk's copy as the cell sees it: R recorded, when last verified (client/file-info.ts). */
  CHUNK_INFO = 45,
  /** Sets the R recorded for held chunks, lower or higher: heal then makes or frees copies (client/set-replicas.ts). */
  CHUNK_SET_R = 46,
}

const KNOWN_TYPES = new Set<number>(Object.values(MessageType).filter((v) => typeof v === 'number') as number[]);

export function isMessageType(n: number): n is MessageType {
  return KNOWN_TYPES.has(n);
}

/**
 * Response status. APPEND-ONLY, like MessageType. Only the code crosses the
 * wire: no messages, paths or stacks.
 */
export enum Status {
  OK = 0,
  ERROR = 1,
  NOT_FOUND = 2,
  CORRUPT = 3,
  HASH_MISMATCH = 4,
  FULL = 5,
  BAD_REQUEST = 6,
  BUSY = 7,
  TOO_LARGE = 8,
  UNKNOWN_TYPE = 9,
}

/** Frame flag bits. */
export const FLAG_RESPONSE = 0x01;
