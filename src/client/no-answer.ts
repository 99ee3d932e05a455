import { CellError, type Addr } from '../core/index.js';
import type { Endpoint } from '../rpc/index.js';

/**
 * The error for "no cell answered", told apart from a wrong key: cells that
 * hold another swarm key answer a request with a frame we cannot verify
 * (rpc/key-mismatch.ts), so a home whose swarm.key is not theirs is said to
 * be that, not an outage.
 */
export function noCellAnswered(endpoint: Endpoint, tried: Addr[], shown = tried.join(', ')): CellError {
  const wrongKey = endpoint.unverifiedFrom(tried);
  if (wrongKey.length > 0) {
    return new CellError(
      'BAD_CONFIG',
      `cells at ${wrongKey.join(', ')} answer but not with this swarm's key: this home's swarm.key is not the one they were started with (check --home or CELLSYNC_HOME)`,
    );
  }
  return new CellError('NO_CELL_REACHABLE', `no cell answered (tried ${shown})`);
}
