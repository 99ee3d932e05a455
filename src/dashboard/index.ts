export { Top, type TopInit, type TopMode } from './top.js';
export { SwarmCollector, type SwarmSnapshot, type CellReport } from './collector.js';
export { formatEventLine, formatBytes, renderScreen, swarmWarnings, type ScreenState } from './render.js';
export { RepairBacklog, type BacklogView } from './backlog.js';
