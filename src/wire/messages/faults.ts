/*
 * FAULTS       request: JSON {lossRate, dupRate, reorderRate}     response: empty (chaos: wire fault injection)
 */
import { MessageType } from '../types.js';
import { emptyCodec, type RequestSpec } from './codec.js';
import { SMALL_JSON_BYTES_MAX, hasShape, jsonCodec } from './json.js';

/** Rates of datagrams a cell's transport loses, duplicates and reorders, each in [0, 1). */
export interface PacketFaults {
  lossRate: number;
  dupRate: number;
  reorderRate: number;
}

const isRate = (x: unknown): x is number => typeof x === 'number' && x >= 0 && x < 1;

export function parseFaults(v: unknown): PacketFaults | null {
  if (!hasShape(v, ['lossRate', 'dupRate', 'reorderRate'])) return null;
  return isRate(v.lossRate) && isRate(v.dupRate) && isRate(v.reorderRate) ? { lossRate: v.lossRate, dupRate: v.dupRate, reorderRate: v.reorderRate } : null;
}

export const FAULTS: RequestSpec<PacketFaults, void> = {
  type: MessageType.FAULTS,
  request: jsonCodec(SMALL_JSON_BYTES_MAX, parseFaults, ({ lossRate, dupRate, reorderRate }) => ({ lossRate, dupRate, reorderRate })),
  response: emptyCodec,
};
