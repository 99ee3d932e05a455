export { Mount, checkMountPoint, isMounted, unmountPath, type MountInit } from './mount.js';
export { errnoOf } from './errno.js';
