export { runDemo, formatReport, type DemoOptions, type SurvivalReport } from './demo.js';
