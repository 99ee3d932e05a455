export { ChunkStore, type ChunkStoreInit, type StoreStats, type CorruptionReport, type SelfScrubResult } from './chunk-store.js';
export { CellIdentity, type IdentityRecord } from './identity.js';
export { writeFileAtomic } from './atomic.js';
export { RecordStore, type Replaced, type VersionedRecord } from './record-store.js';
export { LocalCellDisks, type LocalCellDisksComponents, type AlignedCopy } from './local-cell-disks.js';
export { cellLayoutOf, chunkFileOf, type StoredChunkMeta } from './layout.js';
export { setAsideIfDamaged, type DatabaseRepair } from './lmdb-file.js';
export { stageChunk, unstageChunk } from './staging.js';
