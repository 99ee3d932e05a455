export { HybridClock, isHlc } from './hlc.js';
export * from './records.js';
