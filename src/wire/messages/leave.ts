/*
 * LEAVE        one-way: JSON {id, incarnation}: the sender stops on purpose and expects to come back
 *              (an orderly stop). Peers hold it 'left', not dead; it is sent by the cell itself only.
 */
import { isCellId, type CellId } from '../../core/index.js';
import { MessageType } from '../types.js';
import type { NoticeSpec } from './codec.js';
import { SMALL_JSON_BYTES_MAX, hasShape, isCount, jsonCodec } from './json.js';

export interface LeaveBody {
  id: CellId;
  /** The incarnation that stops: news of an older one is stale, a restart comes back with a higher one. */
  incarnation: number;
}

export const LEAVE: NoticeSpec<LeaveBody> = {
  type: MessageType.LEAVE,
  body: jsonCodec(
    SMALL_JSON_BYTES_MAX,
    (v) => (hasShape(v, ['id', 'incarnation']) && isCellId(v.id) && isCount(v.incarnation) ? { id: v.id, incarnation: v.incarnation } : null),
    ({ id, incarnation }) => ({ id, incarnation }),
  ),
};
