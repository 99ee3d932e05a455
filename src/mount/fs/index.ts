export { SwarmFs } from './swarm-fs.js';
export { defaultFsOptions, type FsOptions, type FsStat, type FsStatfs } from './options.js';
export type { FsComponents } from './context.js';
export { inoNumberOf, typeBitsOf, type Caller } from './inodes.js';
