/** Atomic file writes are core's (core/atomic-file.ts): the CLI writes its home's files with them too. */
export { syncFile, writeFileAtomic } from '../core/index.js';
