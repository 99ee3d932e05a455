export { Mount, READ_AHEAD_KIB, checkMountPoint, isMounted, setReadAhead, unmountPath, type MountInit } from './mount.js';
export { errnoOf } from './errno.js';
export { SwarmFs, defaultFsOptions, type FsComponents, type FsOptions, type FsStat, type FsStatfs } from './fs/index.js';
export { runMount, type MountProcessComponents, type MountProcessInit, type MountReady } from './process.js';
