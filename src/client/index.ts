export { SwarmClient, type SwarmClientInit, type MemberView } from './swarm-client.js';
export { putFile, getFile, readManifest, type PutFileOptions, type PutFileResult } from './files.js';
export { fsck, type FsckReport } from './fsck.js';
export { GC_GRACE_DEFAULT_MS, collectGarbage, type GcOptions, type GcReport } from './gc.js';
export { decodeManifest, encodeManifest, type Manifest } from './manifest.js';
export { RecordsClient } from './records-client.js';
export { LocalCells, LOCAL_READ_BUFFER_BYTES } from './local-cells.js';
/** Which members can hold chunks now (the mount's statfs counts their capacity). */
export { isLiveStorage } from '../placement/index.js';
