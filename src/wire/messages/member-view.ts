/*
 * Pushed member views (docs/decisions/0035-pushed-member-views.md): a client
 * watches one cell instead of asking it for the whole table every second.
 *
 * VIEW_WATCH   request: empty
 *              response: JSON {epoch, seq, leaseMs, members: [ListedMember]}: the cell's table as last
 *              published, at news number `seq` of its stream `epoch`. Refused BUSY when the cell has
 *              as many watchers as it serves.
 * VIEW_RENEW   request: JSON {epoch, leave?: true}   response: JSON {seq, watching}
 *              Extends the caller's lease (or ends it: leave). `watching` false: the cell does not
 *              know the caller (lease lapsed, cell restarted): watch again. `seq` above the last news
 *              the caller got: a notice was lost, watch again.
 * VIEW_NEWS    one-way: JSON {epoch, seq, changed: [ListedMember], gone: [id], reset?: true}
 *              Numbered 1 by 1 within an epoch; each fits one datagram. A member listed in `changed`
 *              replaces the watcher's entry for it; `gone` ids are dropped (forgotten members).
 *              `reset`: more changed than news carries: watch again.
 */
import { MESSAGE_BYTES_MAX, isCellId, type CellId } from '../../core/index.js';
import { MessageType } from '../types.js';
import { emptyCodec, type NoticeSpec, type RequestSpec } from './codec.js';
import { SMALL_JSON_BYTES_MAX, arrayOf, hasShape, isCount, jsonCodec } from './json.js';
import { LISTED_MEMBERS_MAX, listedMemberOf, parseListedMember, type ListedMember } from './members.js';

export interface ViewTable {
  /** Names the cell's news stream: a restarted cell starts another, so its numbers are not mistaken for the old ones. */
  epoch: number;
  /** Number of the last news published before this table: the watcher expects seq + 1 next. */
  seq: number;
  /** How long the watch lasts without a renewal (ms). */
  leaseMs: number;
  members: ListedMember[];
}

export interface ViewRenewal {
  epoch: number;
  /** Ends the watch now (a client closing) instead of extending it. */
  leave: boolean;
}

export interface ViewRenewed {
  seq: number;
  watching: boolean;
}

export interface ViewNews {
  epoch: number;
  seq: number;
  changed: ListedMember[];
  gone: CellId[];
  /** More changed at once than news carries: fetch the whole table again. */
  reset: boolean;
}

export const VIEW_WATCH: RequestSpec<void, ViewTable> = {
  type: MessageType.VIEW_WATCH,
  request: emptyCodec,
  response: jsonCodec(
    MESSAGE_BYTES_MAX,
    (v) => {
      if (!hasShape(v, ['epoch', 'seq', 'leaseMs', 'members']) || !isCount(v.epoch) || !isCount(v.seq) || !isCount(v.leaseMs)) return null;
      const members = arrayOf(v.members, LISTED_MEMBERS_MAX, parseListedMember);
      return members && { epoch: v.epoch, seq: v.seq, leaseMs: v.leaseMs, members };
    },
    (t) => ({ epoch: t.epoch, seq: t.seq, leaseMs: t.leaseMs, members: t.members.map(listedMemberOf) }),
  ),
};

export const VIEW_RENEW: RequestSpec<ViewRenewal, ViewRenewed> = {
  type: MessageType.VIEW_RENEW,
  request: jsonCodec(
    SMALL_JSON_BYTES_MAX,
    (v) => (hasShape(v, ['epoch'], ['leave']) && isCount(v.epoch) && (v.leave === undefined || v.leave === true) ? { epoch: v.epoch, leave: v.leave === true } : null),
    (r) => (r.leave ? { epoch: r.epoch, leave: true } : { epoch: r.epoch }),
  ),
  response: jsonCodec(
    SMALL_JSON_BYTES_MAX,
    (v) => (hasShape(v, ['seq', 'watching']) && isCount(v.seq) && typeof v.watching === 'boolean' ? { seq: v.seq, watching: v.watching } : null),
    (r) => ({ seq: r.seq, watching: r.watching }),
  ),
};

export const VIEW_NEWS: NoticeSpec<ViewNews> = {
  type: MessageType.VIEW_NEWS,
  body: jsonCodec(
    SMALL_JSON_BYTES_MAX,
    (v) => {
      if (!hasShape(v, ['epoch', 'seq', 'changed', 'gone'], ['reset']) || !isCount(v.epoch) || !isCount(v.seq)) return null;
      if (!(v.reset === undefined || v.reset === true)) return null;
      const changed = arrayOf(v.changed, LISTED_MEMBERS_MAX, parseListedMember);
      const gone = arrayOf(v.gone, LISTED_MEMBERS_MAX, (x) => (isCellId(x) ? x : null));
      return changed && gone && { epoch: v.epoch, seq: v.seq, changed, gone, reset: v.reset === true };
    },
    (n) => ({ epoch: n.epoch, seq: n.seq, changed: n.changed.map(listedMemberOf), gone: n.gone, ...(n.reset ? { reset: true } : {}) }),
  ),
};
