export { Immune, type Alert, type Confirmation, type ImmuneComponents, type ImmuneInit, type ScrubStats } from './immune.js';
