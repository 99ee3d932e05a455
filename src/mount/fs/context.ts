import type { SwarmClient } from '../../client/index.js';
import type { Clock } from '../../core/index.js';
import type { OpenFile } from './open-file.js';
import type { FsOptions } from './options.js';

/** What the file system is built on: the swarm it stores into, and time (inode times: wallNow; ages and timers: now, setTimeout, setInterval). */
export interface FsComponents {
  swarm: SwarmClient;
  clock: Clock;
}

/** State every part of the file system shares. */
export interface FsContext extends FsComponents {
  readonly opts: FsOptions;
  /** Files open in this mount, by inode number. */
  readonly files: Map<string, OpenFile>;
}
