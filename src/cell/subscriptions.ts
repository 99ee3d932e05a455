import type { Membership, MembershipEvent } from '../membership/index.js';
import type { Endpoint, NotifyHandler, RequestHandler } from '../rpc/index.js';
import type { ChunkStore, CorruptionReport } from '../store/index.js';
import type { MessageType } from '../wire/index.js';

/**
 * What a component registered on objects it does not own (the endpoint's
 * handlers, store and membership listeners), kept so that stopping removes
 * exactly those, by the same functions, and nothing registered after them.
 */
export class Subscriptions {
  private undo: (() => void)[] = [];

  /** The endpoint as seen by handler code: handle() and onNotify() registrations are remembered. */
  on(endpoint: Endpoint): Pick<Endpoint, 'handle' | 'onNotify'> {
    return {
      handle: (type: MessageType, handler: RequestHandler) => {
        endpoint.handle(type, handler);
        this.undo.push(() => endpoint.unhandle(type, handler));
      },
      onNotify: (type: MessageType, handler: NotifyHandler) => {
        endpoint.onNotify(type, handler);
        this.undo.push(() => endpoint.offNotify(type, handler));
      },
    };
  }

  onCorruption(store: ChunkStore, listener: (r: CorruptionReport) => void): void {
    store.onCorruption(listener);
    this.undo.push(() => store.offCorruption(listener));
  }

  onMembershipEvent(membership: Membership, listener: (e: MembershipEvent) => void): void {
    membership.onEvent(listener);
    this.undo.push(() => membership.offEvent(listener));
  }

  /** Removes everything registered, newest first. */
  clear(): void {
    for (const undo of this.undo.splice(0).reverse()) undo();
  }
}
