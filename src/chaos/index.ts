export { INFECTION_CHUNKS, INFECTION_STEP_MS, runChaos, type ChaosAction, type ChaosCell, type ChaosEnv, type ChaosOptions, type ChaosSummary } from './chaos.js';
