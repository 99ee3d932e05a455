/*
 * Message bodies, one module per message kind (or small family), each with
 * its types, its encoder and its strict decoder. `Messages` maps every
 * request and one-way message to its spec: what Endpoint.call, serve,
 * notice and onNotice take. FRAGMENT and FRAGMENT_ACK are the endpoint's own
 * (fragment.ts), and so is KEY_MISMATCH (empty; rpc/key-mismatch.ts).
 */
import { ALERT, CONFIRMED } from './alert.js';
import { CHUNK_ADOPT } from './chunk-adopt.js';
import { CHUNK_COLLECT } from './chunk-collect.js';
import { CHUNK_DELETE, CHUNK_GET, CHUNK_PROBE } from './chunk-get.js';
import { CHUNK_CLAIM, CHUNK_HAS } from './chunk-has.js';
import { CHUNK_INFO, CHUNK_SET_R } from './chunk-info.js';
import { CHUNK_LIST } from './chunk-list.js';
import { CHUNK_PUT } from './chunk-put.js';
import { CHUNK_RANGE } from './chunk-range.js';
import { FAULTS } from './faults.js';
import { FORGET } from './forget.js';
import { GOSSIP, PROBE, PROBE_ACK, PROBE_REQ, PUSH_PULL } from './gossip.js';
import { HEARTBEAT } from './heartbeat.js';
import { LEAVE } from './leave.js';
import { LOCAL_GRANT } from './local-grant.js';
import { VIEW_NEWS, VIEW_RENEW, VIEW_WATCH } from './member-view.js';
import { JOIN, MEMBERS } from './members.js';
import { PING } from './ping.js';
import { REC_GET, REC_PUT, REC_SCAN, REC_SYNC, REC_UNDO, REC_WRITE } from './records.js';
import { STATUS } from './status.js';
import type { MessageType } from '../types.js';

export const Messages = {
  HEARTBEAT,
  JOIN,
  STATUS,
  CHUNK_PUT,
  CHUNK_GET,
  CHUNK_HAS,
  CHUNK_DELETE,
  PING,
  CHUNK_LIST,
  MEMBERS,
  REC_PUT,
  REC_GET,
  REC_SCAN,
  REC_SYNC,
  ALERT,
  CONFIRMED,
  FAULTS,
  CHUNK_PROBE,
  CHUNK_RANGE,
  LOCAL_GRANT,
  CHUNK_ADOPT,
  CHUNK_COLLECT,
  CHUNK_CLAIM,
  FORGET,
  REC_WRITE,
  REC_UNDO,
  LEAVE,
  PROBE,
  PROBE_ACK,
  PROBE_REQ,
  PUSH_PULL,
  GOSSIP,
  VIEW_WATCH,
  VIEW_RENEW,
  VIEW_NEWS,
  CHUNK_INFO,
  CHUNK_SET_R,
} as const satisfies Record<Exclude<keyof typeof MessageType, 'FRAGMENT' | 'FRAGMENT_ACK' | 'KEY_MISMATCH'>, { readonly type: MessageType }>;

export * from './codec.js';
export { SMALL_JSON_BYTES_MAX } from './json.js';
export * from './alert.js';
export * from './chunk-adopt.js';
export * from './chunk-collect.js';
export * from './chunk-get.js';
export * from './chunk-has.js';
export * from './chunk-info.js';
export * from './chunk-key.js';
export * from './chunk-list.js';
export * from './chunk-put.js';
export * from './chunk-range.js';
export * from './faults.js';
export * from './forget.js';
export * from './gossip.js';
export * from './heartbeat.js';
export * from './leave.js';
export * from './local-grant.js';
export * from './member-view.js';
export * from './members.js';
export * from './ping.js';
export * from './records.js';
export * from './status.js';
