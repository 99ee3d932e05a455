export { Healer, type HealerComponents, type HealerInit, type HealStats } from './healer.js';
