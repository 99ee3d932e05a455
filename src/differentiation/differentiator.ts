import { logger, type Clock, type DifferentiationConfig, type Rng, type TimerHandle } from '../core/index.js';
import { isAway, type Membership, type Role } from '../membership/index.js';
import { betterClaims, neededRole, type RoleView } from './roles.js';

/** Intents travel at once (an intent change sends a heartbeat): this covers a round trip and scheduling. */
const MIN_WAIT_MS = 300;

export interface DifferentiatorComponents {
  clock: Clock;
  rng: Rng;
  membership: Membership;
}

export interface DifferentiatorInit {
  config: DifferentiationConfig;
  replicas: number;
  /** A pinned role never changes (--role). */
  pinned: boolean;
  /** A member that left on purpose counts in its role this long (heal.leftGraceMs): a restart is no reason to change roles. */
  leftGraceMs: number;
  onEvent: (type: string, detail: string) => void;
  logPrefix?: string;
}

/**
 * Stem cells take the role the swarm lacks, by lateral inhibition: a cell
 * that sees a need announces its intent (in its heartbeats), waits a random
 * delay, and takes the role only if the need is still there counting every
 * other intent, and no earlier claim beats its own. Storage and guard cells
 * only ever move toward storage when storage runs short: a guard holds no
 * data, and a storage cell never changes role (its data would have to be
 * handed off first), so no cell drops the only copies of anything.
 */
export class Differentiator {
  private readonly log;
  private timer: TimerHandle | null = null;
  private pending: TimerHandle | null = null;
  intent: Role | null = null;
  intentAtMs = 0;

  constructor(private readonly components: DifferentiatorComponents, private readonly init: DifferentiatorInit) {
    this.log = logger('differentiation', init.logPrefix);
  }

  start(): void {
    if (this.init.pinned || this.timer) return;
    this.timer = this.components.clock.setInterval(() => this.decide(), this.init.config.decideEveryMs);
  }

  stop(): void {
    this.timer?.clear();
    this.pending?.clear();
    this.timer = null;
    this.pending = null;
  }

  private views(): RoleView[] {
    const now = this.components.clock.now();
    return this.components.membership
      .members()
      .filter((m) => m.state === 'alive' || m.state === 'suspect' || isAway(m, now, this.init.leftGraceMs))
      .map((m) => ({
        id: m.id,
        role: m.role,
        intent: m.intent ?? null,
        intentAtMs: m.intentAtMs ?? 0,
        capacityBytes: m.capacityBytes,
        bytes: m.bytes,
      }));
  }

  private targets() {
    return { replicas: this.init.replicas, storagePerGuard: this.init.config.storagePerGuard, fullBelowFreeShare: this.init.config.fullBelowFreeShare };
  }

  private decide(): void {
    if (this.pending) return;
    const members = this.views();
    const self = members[0]!;
    if (self.role === 'storage') return;
    const wanted = this.wanted(members);
    if (!wanted) return this.announce(null);
    this.announce(wanted);
    // Wait long enough for every neighbour's intent to arrive, plus a random share so claims do not collide.
    const delayMs = MIN_WAIT_MS + this.components.rng.int(this.init.config.inhibitionMsMax);
    this.pending = this.components.clock.setTimeout(() => {
      this.pending = null;
      if (this.wanted(this.views()) !== wanted) {
        this.log('backing off from %s', wanted);
        return this.announce(null);
      }
      this.log('becoming %s', wanted);
      const from = self.role;
      this.intent = null;
      // The new role first: listeners (the cell saving it for its next start) read it from membership.
      this.components.membership.updateSelf({ role: wanted, intent: null, intentAtMs: 0 });
      this.init.onEvent('role-changed', `${from} -> ${wanted}`);
    }, delayMs);
  }

  /** The role to claim now: a need that this cell's claim is among the first to fill. */
  private wanted(members: RoleView[]): Role | null {
    const self = members[0]!;
    const need = neededRole(members, this.targets());
    if (!need || need.role === self.role) return null;
    // A guard steps in only for missing storage, and not if it is the last guard.
    if (self.role === 'guard' && (need.role !== 'storage' || members.filter((m) => m.role === 'guard').length <= 1)) return null;
    const claimAt = this.intent === need.role ? this.intentAtMs : this.components.clock.wallNow();
    return betterClaims({ id: self.id, intentAtMs: claimAt }, need.role, members) < need.deficit ? need.role : null;
  }

  private announce(intent: Role | null): void {
    if (intent === this.intent) return;
    this.intent = intent;
    this.intentAtMs = intent ? this.components.clock.wallNow() : 0;
    if (intent) this.init.onEvent('role-intent', `wants to become ${intent}`);
    this.components.membership.updateSelf({ intent, intentAtMs: this.intentAtMs });
  }
}
