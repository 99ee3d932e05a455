export { Cell, QUARANTINE_MARKER, loadRole, type CellInit, type CellComponents } from './cell.js';
export type { CellStatus } from './status.js';
export { cellPid, isProcessAlive, readPid, lockDataDir, PID_FILE } from './lock.js';
