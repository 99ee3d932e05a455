import type { Unsubscribe } from '../core/index.js';
import type { Endpoint, Incoming } from '../rpc/index.js';
import type { RequestSpec } from '../wire/index.js';

/**
 * What a component registered on objects it does not own (the endpoint's
 * handlers, store and membership listeners), kept so that stopping removes
 * exactly those, and nothing registered after them.
 */
export class Subscriptions {
  private readonly undo: Unsubscribe[] = [];

  /** Keeps what subscribing returned, for clear(). */
  add(...undo: Unsubscribe[]): void {
    this.undo.push(...undo);
  }

  /** The endpoint as seen by handler code: what serve() registers is remembered. */
  on(endpoint: Endpoint): { serve<Q, A>(spec: RequestSpec<Q, A>, handler: (request: Q, incoming: Incoming) => A | Promise<A>): void } {
    return { serve: (spec, handler) => this.add(endpoint.serve(spec, handler)) };
  }

  /** Removes everything registered, newest first. */
  clear(): void {
    for (const undo of this.undo.splice(0).reverse()) undo();
  }
}
