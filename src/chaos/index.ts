export { runChaos, type ChaosAction, type ChaosCell, type ChaosEnv, type ChaosOptions, type ChaosSummary } from './chaos.js';
