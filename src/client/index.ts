export { SwarmClient, type SwarmClientInit, type MemberView } from './swarm-client.js';
export { putFile, getFile, readManifest, type PutFileOptions, type PutFileResult } from './files.js';
export { fsck, type FsckReport } from './fsck.js';
export { GC_GRACE_DEFAULT_MS, collectGarbage, type GcOptions, type GcReport } from './gc.js';
export { decodeManifest, encodeManifest, type Manifest } from './manifest.js';
export { SwarmFs, defaultFsOptions, type FsOptions, type FsStat, type FsStatfs } from './filesystem.js';
export { RecordsClient } from './records-client.js';
export { LocalCells } from './local-cells.js';
export { forgetMember, setPacketFaults } from './admin.js';
/** A cell's STATUS answer, as SwarmClient.status returns it (its shape is the wire's). */
export type { CellStatus } from '../wire/index.js';
