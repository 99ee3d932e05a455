import type { Member } from './member.js';

/**
 * A member that left on purpose (an orderly stop) less than graceMs ago:
 * expected back, so what it holds still counts as held and placement keeps
 * its place for it. Past the grace it is gone like a dead member.
 */
export function isAway(m: Pick<Member, 'state' | 'stateSinceMs'>, nowMs: number, graceMs: number): boolean {
  return m.state === 'left' && nowMs - m.stateSinceMs < graceMs;
}
