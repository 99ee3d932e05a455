/*
 * FORGET       request: JSON {id} of a dead member      response: JSON {forgotten: boolean}
 */
import { isCellId, type CellId } from '../../core/index.js';
import { MessageType } from '../types.js';
import type { RequestSpec } from './codec.js';
import { SMALL_JSON_BYTES_MAX, hasShape, jsonCodec } from './json.js';

export interface ForgetRequest {
  id: CellId;
}

export interface ForgetAnswer {
  /** False if the member was not dead (or not known). */
  forgotten: boolean;
}

export const FORGET: RequestSpec<ForgetRequest, ForgetAnswer> = {
  type: MessageType.FORGET,
  request: jsonCodec(SMALL_JSON_BYTES_MAX, (v) => (hasShape(v, ['id']) && isCellId(v.id) ? { id: v.id } : null), ({ id }) => ({ id })),
  response: jsonCodec<ForgetAnswer, ForgetRequest>(
    SMALL_JSON_BYTES_MAX,
    (v) => (hasShape(v, ['forgotten']) && typeof v.forgotten === 'boolean' ? { forgotten: v.forgotten } : null),
    ({ forgotten }) => ({ forgotten }),
  ),
};
