export { Top, type TopInit, type TopMode } from './top.js';
export { SwarmCollector, type SwarmSnapshot, type CellReport } from './collector.js';
export { formatEventLine, formatBytes, renderScreen, swarmWarnings, type ScreenState } from './render.js';
export { RepairBacklog, type BacklogView } from './backlog.js';
export { formatRates, quantile, ratesBetween, type CellRates, type MountRates, type OpRate, type Rates } from './stats.js';
