export { Differentiator, type DifferentiatorComponents, type DifferentiatorInit } from './differentiator.js';
export { neededRole, betterClaims, type RoleView, type RoleTargets, type Need } from './roles.js';
