import type { Addr, CellId } from '../core/index.js';
import { MEMBER_STATES, type MemberInfo, type MemberState } from '../wire/index.js';
import { bucketOf } from './swim/table-digest.js';

/** A member's state as a byte (1 to 5; 0 is left for "none"). */
export const stateCode = (state: MemberState): number => MEMBER_STATES.indexOf(state) + 1;

/**
 * What a member says of itself at one version of its self-description, its
 * share of a table digest in each state (see digestShares) and its digest
 * bucket. Never changed once made: shared.
 */
export type Described = Readonly<MemberInfo> & { readonly version: number; readonly shares: Uint32Array; readonly bucket: number };

/** 32-bit FNV-1a of `text` from `basis`. */
function fnv1a(text: string, basis: number): number {
  let h = basis;
  for (let k = 0; k < text.length; k++) h = Math.imul(h ^ text.charCodeAt(k), 0x01000193);
  return h >>> 0;
}

/** Murmur3's finalizer: every input bit moves every output bit. */
function mix(h: number): number {
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/**
 * A member's shares of a table digest, two 32-bit halves for each state
 * (at 2 × code and 2 × code + 1): two hashes of its id, incarnation and
 * version mixed with the state it is held in. Shares are XORed together: a
 * digest changes with any entry, and two tables holding the same entries
 * have the same one.
 */
export function digestShares(id: CellId, incarnation: number, version: number): Uint32Array {
  const text = `${id}/${incarnation}/${version}`;
  const h0 = fnv1a(text, 0x811c9dc5);
  const h1 = fnv1a(text, 0x01234567);
  const shares = new Uint32Array(2 * (MEMBER_STATES.length + 1));
  for (let code = 1; code <= MEMBER_STATES.length; code++) {
    const salt = Math.imul(code, 0x9e3779b1);
    shares[2 * code] = mix(h0 ^ salt);
    shares[2 * code + 1] = mix(h1 ^ salt);
  }
  return shares;
}

/** Addresses remembered per member: one that moved often keeps only its latest (a member is at one address at a time). */
const CLAIMS_PER_MEMBER_MAX = 4;

/**
 * Member ids as small integers, so that a member table keeps its members in
 * typed arrays indexed by them, and what members say of themselves as
 * shared objects. A detector has its own; a simulator running 10,000
 * detectors in one process shares one among them, so that 10⁸ table entries
 * take bytes each, not objects. An index lives while some table holds it
 * (counted), and is reused once none does.
 */
export class MemberIds {
  private readonly indexOf = new Map<CellId, number>();
  private readonly ids: (CellId | undefined)[] = [];
  private readonly holders: number[] = [];
  private readonly free: number[] = [];
  /** The newest self-description seen of each member. */
  private readonly newest: (Described | undefined)[] = [];
  /** The members that said they are at each address (usually one; a new one after a wiped data directory), and the addresses each said. */
  private readonly claims = new Map<Addr, number[]>();
  private readonly claimed: Addr[][] = [];

  /** Indices handed out so far: a table sized to it holds any member. */
  get size(): number {
    return this.ids.length;
  }

  /** The index of `id`, held once more (release() it when the table drops the member). */
  hold(id: CellId): number {
    let i = this.indexOf.get(id);
    if (i === undefined) {
      i = this.free.pop() ?? this.ids.length;
      this.indexOf.set(id, i);
      this.ids[i] = id;
      this.holders[i] = 0;
      this.newest[i] = undefined;
      this.claimed[i] = [];
    }
    this.holders[i]!++;
    return i;
  }

  release(i: number): void {
    if (--this.holders[i]! > 0) return;
    const id = this.ids[i]!;
    for (const addr of this.claimed[i]!) this.unclaim(addr, i);
    this.claimed[i] = [];
    this.indexOf.delete(id);
    this.ids[i] = undefined;
    this.newest[i] = undefined;
    this.free.push(i);
  }

  /** The index of `id`, if some table holds it. */
  find(id: CellId): number | undefined {
    return this.indexOf.get(id);
  }

  idOf(i: number): CellId {
    return this.ids[i]!;
  }

  /**
   * The shared description of member `i` saying `info` at `version`: the
   * one already made if it is at that incarnation and version (the same
   * news heard by many tables is one object), else a new one.
   */
  describe(i: number, info: MemberInfo, version: number): Described {
    const known = this.newest[i];
    if (known && known.incarnation === info.incarnation && known.version === version) return known;
    // Written out, not spread: objects made by spreading get shapes of their own, and every read of them is slow.
    const { id, addr, incarnation, role, pid, chunks, bytes, capacityBytes, intent, intentAtMs } = info;
    const shares = digestShares(id, incarnation, version);
    const made: Described = { id, addr, incarnation, role, pid, chunks, bytes, capacityBytes, intent, intentAtMs, version, shares, bucket: bucketOf(id) };
    if (!known || info.incarnation > known.incarnation || (info.incarnation === known.incarnation && version > known.version)) this.newest[i] = made;
    const claimed = this.claimed[i]!;
    if (!claimed.includes(made.addr)) {
      claimed.push(made.addr);
      const list = this.claims.get(made.addr);
      if (list) list.push(i);
      else this.claims.set(made.addr, [i]);
      if (claimed.length > CLAIMS_PER_MEMBER_MAX) this.unclaim(claimed.shift()!, i);
    }
    return made;
  }

  /** Members that said they are at `addr` (a table checks which of them it holds there). */
  claimants(addr: Addr): readonly number[] {
    return this.claims.get(addr) ?? [];
  }

  private unclaim(addr: Addr, i: number): void {
    const list = this.claims.get(addr);
    if (!list) return;
    const at = list.indexOf(i);
    if (at >= 0) list.splice(at, 1);
    if (list.length === 0) this.claims.delete(addr);
  }
}
