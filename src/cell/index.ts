export { Cell, QUARANTINE_MARKER, loadRole, type CellInit, type CellComponents } from './cell.js';
/** The roles a cell can have (`cell start --role`). */
export { ROLES, type Role } from '../membership/index.js';
/** The STATUS answer's shape is the wire's (wire/messages/status.ts). */
export type { CellStatus } from '../wire/index.js';
/** A cell's side of pushed member views (composed by Cell; the view bench and tests drive it alone). */
export { ViewWatchers, type ViewWatchersComponents, type ViewWatchersInit } from './view-watchers.js';
export { cellPid, isProcessAlive, readPid, lockDataDir, PID_FILE } from './lock.js';
