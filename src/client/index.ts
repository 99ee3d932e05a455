export { SwarmClient, type SwarmClientComponents, type SwarmClientInit, type MemberView } from './swarm-client.js';
export { putFile, getFile, readManifest, type PutFileOptions, type PutFileResult } from './files.js';
export { pathInfo, type ChunkInfo, type CopyInfo, type DirInfo, type FileInfo, type Health } from './file-info.js';
/** The most copies a chunk can be given (R is one byte on the wire; the config allows as many). */
export { REPLICAS_MAX } from '../wire/index.js';
export { setChunksReplicas, setReplicas, type SetReplicasReport } from './set-replicas.js';
export { AT_RISK_LISTED_MAX, fsck, type FileAtRisk, type FsckReport } from './fsck.js';
export { GC_GRACE_DEFAULT_MS, GC_GRACE_MIN_MS, collectGarbage, countedInodes, type GcOptions, type GcReport } from './gc.js';
export { ChunkList, type StoredChunk } from './chunk-list.js';
export { chunkCountOf, decodeManifest, encodeManifest, type Manifest } from './manifest.js';
export { RecordsClient } from './records-client.js';
export { LocalCells, type LocalCellsComponents, type LocalCellsInit } from './local-cells.js';
export { forgetMember, setPacketFaults } from './admin.js';
/** A cell's STATUS answer, as SwarmClient.status returns it (its shape is the wire's). */
export type { CellStatus } from '../wire/index.js';
export type { LocalDisk, AlignedCopy, LeafListWanted } from './local-disk.js';
/** The size of the buffers of a BufferPool that local chunk reads lend from (defined in core/, where store/ sees it too). */
export { LOCAL_READ_BUFFER_BYTES } from '../core/index.js';
/** Which members can hold chunks now (the mount's statfs counts their capacity; put says how many there are). */
export { isLiveStorage } from '../placement/index.js';
