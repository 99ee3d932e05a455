/* PING         request: empty      response: empty (is it there, and how far) */
import { MessageType } from '../types.js';
import { emptyCodec, type RequestSpec } from './codec.js';

export const PING: RequestSpec<void, void> = { type: MessageType.PING, request: emptyCodec, response: emptyCodec };
