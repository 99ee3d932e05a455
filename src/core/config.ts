import { CHUNK_BYTES_MAX, DATAGRAM_BYTES_MIN, UDP_PAYLOAD_BYTES_MAX } from './limits.js';

/**
 * Everything a cell or client can tune. Each number is written once, in
 * defaultConfig(); CLI options and CELLSYNC_* variables override it.
 */
export interface WireConfig {
  /** Largest datagram we send (bytes). ~60 KiB suits loopback; 1,200 suits any real path. Smaller = more syscalls per chunk. */
  datagramBytesMax: number;
  /** A frame whose timestamp is further than this from our clock is dropped as a replay (ms). Bounds tolerated clock skew. */
  replayWindowMs: number;
  /** First retransmission timeout before any RTT sample (ms). */
  rtoInitialMs: number;
  /** Floor on the adaptive retransmission timeout (ms): lower reacts faster, but retransmits on scheduling jitter. */
  rtoMinMs: number;
  /** Ceiling on the retransmission timeout after backoff (ms). */
  rtoMaxMs: number;
  /** Default deadline for a small request, retries included (ms). */
  requestTimeoutMs: number;
  /** Deadline for a request or response that travels as fragments (ms). */
  bulkTimeoutMs: number;
  /** Requests in flight to one peer; more wait in that peer's queue. */
  inflightPerPeerMax: number;
  /** Requests waiting per peer beyond the in-flight cap; more are refused with BUSY. */
  peerQueueMax: number;
  /** Requests in flight in total across all peers. */
  inflightTotalMax: number;
  /** Fragments one transfer may have unacknowledged at once (the window's ceiling; it grows from 4). */
  bulkWindowFragmentsMax: number;
  /** Partial messages being reassembled at once; more are dropped. */
  reassembliesMax: number;
  /** Bytes held by all partial messages at once. */
  reassemblyBytesMax: number;
  /** A partial message not completed in this time is discarded (ms). */
  reassemblyTimeoutMs: number;
  /** Answered requests remembered so that a retry is not executed twice. */
  dedupEntriesMax: number;
  /** Bytes of cached responses kept for retries. */
  dedupBytesMax: number;
  /** How long an answered request is remembered (ms); must exceed the longest request deadline. */
  dedupTtlMs: number;
  /** Kernel receive buffer asked for (bytes); the kernel clamps it to net.core.rmem_max. */
  socketBufferBytes: number;
}

export interface FaultConfig {
  /** Probability that a sent datagram is dropped. */
  lossRate: number;
  /** Probability that a sent datagram is sent twice. */
  dupRate: number;
  /** Probability that a sent datagram is held back and sent late (reordering). */
  reorderRate: number;
  /** Longest hold-back for a reordered datagram (ms). */
  delayMsMax: number;
}

/** The failure detector: SWIM gossip (the default, docs/decisions/0031-swim-membership.md) or the original full-mesh heartbeat. */
export type MembershipDetector = 'swim' | 'mesh';
export const MEMBERSHIP_DETECTORS: readonly MembershipDetector[] = ['swim', 'mesh'];

export interface MembershipConfig {
  detector: MembershipDetector;
  // ---- SWIM (memberlist's LAN profile is the reference; see docs/design.md, Membership) ----
  /** Each member probes one other this often (ms), scaled up by its local health (Lifeguard). */
  probeIntervalMs: number;
  /** A probe not acked within this is retried through indirectChecks other members (ms). Must be below the interval. */
  probeTimeoutMs: number;
  /** Members asked to probe an unanswering target for us (k). */
  indirectChecks: number;
  /** Each update is piggybacked retransmitMult * ceil(log10(N + 1)) times. */
  retransmitMult: number;
  /** Shortest suspicion: suspicionMult * max(1, log10(N)) probe intervals, reached once suspicionMult - 2 others confirm. */
  suspicionMult: number;
  /** Longest suspicion (no confirmation), as a multiple of the shortest. */
  suspicionMaxTimeoutMult: number;
  /** Ceiling of the local health multiplier (Lifeguard): probe interval and timeout grow up to this many times. */
  awarenessMax: number;
  /** Queued news is pushed to gossipNodes random members this often (ms), besides riding on probes and acks. */
  gossipIntervalMs: number;
  gossipNodes: number;
  /** A whole-table exchange with one random member this often (ms), scaled up past 32 members. */
  pushPullIntervalMs: number;
  /** A change of usage alone (chunks, bytes, capacity) is gossiped at most this often (ms). */
  usageGossipIntervalMs: number;
  /** A new role or intent goes straight to every member of a swarm this small (lateral inhibition needs it within 300 ms); beyond, by gossip. */
  announceToAllMax: number;
  /**
   * Bytes of news piggybacked on one probe, ack or gossip (what is left of it after its own fields), capped
   * at the datagram size: the cost of a message, not the size of the largest datagram the network takes.
   */
  piggybackBytesMax: number;
  /** Members with news queued for dissemination; past it the most-sent is dropped (push-pull repairs it). */
  gossipQueueMax: number;
  // ---- mesh (the original heartbeat detector) ----
  /** Every member heartbeats every member this often (ms). */
  heartbeatIntervalMs: number;
  /** A member not heard for this long is suspect (ms). Must exceed 3 heartbeats. */
  failureTimeoutMs: number;
  /** A suspect not heard for this much longer is dead (ms). */
  suspicionMs: number;
  /** How often states are re-evaluated (ms); bounds detection lag. */
  tickMs: number;
}

/**
 * Pushed member views (docs/decisions/0035-pushed-member-views.md): a client
 * watches one cell, which answers with its member table and then pushes what
 * changes as small numbered notices. The cell's side bounds what one cell
 * spends on its watchers; the client's side how soon it notices a lost
 * notice or a watched cell gone.
 */
export interface MemberViewConfig {
  /** Watchers one cell serves; more are refused BUSY and pick another cell. Each costs one datagram per news datagram. */
  watchersMax: number;
  /** A watcher not renewed for this long is forgotten (ms): a stopped client costs its cell nothing after it. */
  leaseMs: number;
  /** A client renews its lease this often (ms); the answer also reveals a lost last notice and a watched cell gone. Must be well under leaseMs. */
  renewEveryMs: number;
  /** Deadline of a watch or renewal, retries included (ms): a watched cell silent this long is left for another. */
  requestTimeoutMs: number;
  /** Membership events within this window go out as one batch (ms): a burst costs a few datagrams, a lone event waits this long. */
  batchMs: number;
  /** Usage (chunks, bytes, capacity, intent) is compared and pushed this often (ms): it changes all the time and matters little. */
  usageEveryMs: number;
  /** Members whose usage one comparison pushes; the rest wait for the next (bounds usage traffic at usageEntriesMax / usageEveryMs). */
  usageEntriesMax: number;
  /** Changed members one batch may carry; beyond it watchers are told to fetch the whole table instead (a mass event). */
  newsEntriesMax: number;
}

export interface StoreConfig {
  /** Bytes of chunks this cell will hold; 0 = the free space of its disk at start. */
  capacityBytes: number;
  /**
   * Bytes per second a cell re-reads of its own store after it was
   * quarantined (the self-scrub, in the background while it serves; each
   * chunk counts at least 4 KiB). Higher rehabilitates sooner and takes
   * more of the disk from the reads and writes it serves meanwhile.
   */
  selfScrubBytesPerSec: number;
}

export interface PlacementConfig {
  /** Copies kept of every chunk (R). More survives more failures and costs disk and write bandwidth. */
  replicas: number;
  /** Copies acknowledged before a write returns (W <= R). Lower is faster and less safe until healing catches up. */
  writeQuorum: number;
  /** Bytes per chunk when files are cut (4 MiB: most of a cell's work per chunk does not depend on its size; see docs/decisions/0001-chunk-size-4mib.md). */
  chunkBytes: number;
  /** Weight placement by each cell's capacity instead of equally. */
  weightByCapacity: boolean;
}

export interface HealConfig {
  /** Period of the anti-entropy pass that catches anything a death event missed (ms). */
  antiEntropyMs: number;
  /** Repair bandwidth per cell (bytes/s): bounds how much healing competes with user reads and writes. */
  repairBytesPerSec: number;
  /** Pause after a membership change before repairing, to batch a burst of events (ms). */
  settleMs: number;
  /** Pushes in flight per cell during repair. */
  repairConcurrency: number;
  /**
   * How long a cell that left on purpose (an orderly stop, LEAVE) keeps its
   * place (ms): its copies count as held and nothing is copied in its stead,
   * so a restart within it costs no copy. Longer spares more copies after
   * long maintenance; it also leaves its chunks one copy short that long.
   * A cell that stops without a goodbye (a crash) is repaired at its death.
   */
  leftGraceMs: number;
}

export interface ImmuneConfig {
  /** Bytes per second a guard re-reads and re-hashes from storage cells. */
  scrubBytesPerSec: number;
  /** A guard starts a full pass over every storage cell this often, at most (ms). */
  scrubPeriodMs: number;
  /**
   * Confirmed corrupt chunks on one cell before the whole cell is quarantined.
   * 1 is the original design (any confirmed corruption expels the cell); the
   * default tolerates isolated bit rot, whose copy is simply replaced, and
   * expels a cell that keeps corrupting data.
   */
  quarantineAfter: number;
  /** Test hook: a guard sends a false alert this often (ms); 0 = never. */
  testFalseAlertMs: number;
}

export interface DifferentiationConfig {
  /** Storage cells per guard (the target ratio); at least one guard once R storage cells exist. */
  storagePerGuard: number;
  /** How often a cell reconsiders its role (ms). */
  decideEveryMs: number;
  /** After announcing an intent, a cell waits a random delay up to this long before taking the role (ms). */
  inhibitionMsMax: number;
  /** Storage is "full" when free space falls below this share of capacity: stem cells then become storage. */
  fullBelowFreeShare: number;
}

/**
 * How a client's reads get around a replica that does not answer: the read
 * is hedged to the next replica once the first is late by its own measured
 * answer time, long before the failure detector declares anything
 * (docs/decisions/0034-reads-hedged-by-rtt.md).
 */
export interface ReadHedgeConfig {
  /** Hedge delay before a replica has answered anything (ms): no estimate yet. */
  delayInitialMs: number;
  /** Floor on the hedge delay (ms): lower hedges reads that only wait for a disk; each hedge is a request more. */
  delayMinMs: number;
  /** Ceiling on the hedge delay (ms): what a dead or hung replica costs a read at most, before the healthy replica's own answer time. */
  delayMaxMs: number;
  /** A replica silent for this many hedge delays is given up on (its request times out, and it is shunned). */
  deadlineDelays: number;
  /** Hedges earned per read started: the long-run share of extra requests hedging may add (the budget). */
  budgetPerRead: number;
  /** Hedges that may be spent at once from a full budget (a burst, e.g. a slow moment of a healthy cell). */
  budgetMax: number;
  /** Replicas whose answer times a client keeps (the table's bound). */
  peersMax: number;
}

export interface CellConfig {
  wire: WireConfig;
  immune: ImmuneConfig;
  differentiation: DifferentiationConfig;
  faults: FaultConfig;
  membership: MembershipConfig;
  views: MemberViewConfig;
  store: StoreConfig;
  placement: PlacementConfig;
  heal: HealConfig;
}

export function defaultConfig(): CellConfig {
  return {
    wire: {
      datagramBytesMax: 60 * 1024, // 4 MiB chunk = 70 datagrams on loopback
      replayWindowMs: 30_000, // tolerates 30 s of clock skew between machines
      rtoInitialMs: 250,
      rtoMinMs: 30, // loopback RTT is ~0.1 ms, but an fsync'd PUT takes milliseconds
      rtoMaxMs: 2_000,
      requestTimeoutMs: 3_000,
      bulkTimeoutMs: 20_000,
      inflightPerPeerMax: 32,
      peerQueueMax: 1_024,
      inflightTotalMax: 1_024,
      bulkWindowFragmentsMax: 48, // 48 x 60 KiB ~ 2.8 MiB: fits a 4 MiB socket buffer
      reassembliesMax: 128,
      reassemblyBytesMax: 256 * 1024 * 1024,
      reassemblyTimeoutMs: 10_000,
      dedupEntriesMax: 8_192,
      dedupBytesMax: 32 * 1024 * 1024,
      dedupTtlMs: 60_000,
      socketBufferBytes: 4 * 1024 * 1024,
    },
    faults: { lossRate: 0, dupRate: 0, reorderRate: 0, delayMsMax: 20 },
    membership: {
      detector: 'swim',
      probeIntervalMs: 250, // memberlist LAN: 1 s; a quarter: a SIGKILLed cell is first probed (and found dead) after about 7/8 of a period with 8 cells
      probeTimeoutMs: 100, // LAN RTTs are well under 1 ms; the relays' probes and nacks (at 80% of it) end within the period
      indirectChecks: 3, // memberlist LAN: 3 relays make a false suspicion from one bad link unlikely
      retransmitMult: 4, // memberlist LAN: 4 * log10(N + 1) sends reach every member with high probability
      suspicionMult: 8, // memberlist LAN's 4 of its 1 s periods is 8 of ours: 2 s at 10 members, 8 s at 10,000 before a death without confirmations
      suspicionMaxTimeoutMult: 6, // memberlist LAN: an unconfirmed suspicion waits up to 6 times the shortest
      awarenessMax: 8, // memberlist LAN: an unhealthy member probes up to 8 times more slowly
      gossipIntervalMs: 200, // memberlist LAN: news reaches 1,000 members in about 3 probe periods
      gossipNodes: 3, // memberlist LAN
      pushPullIntervalMs: 10_000, // memberlist LAN: 30 s; tighter, as roles, usage and quarantines ride on it
      usageGossipIntervalMs: 5_000, // usage changes with every write; placement tolerates seconds-old figures
      announceToAllMax: 64, // a role change is rare: 64 datagrams once, as the mesh's heartbeat to all
      // memberlist fills a 1,400-byte packet with ~25 compact binary updates; ours are ~170 bytes of JSON, so as many
      // take 4 KiB (1,400 bytes: 300 cells booting converge in 25 s instead of a few). A 60 KiB loopback datagram full
      // of news buys nothing (each update is sent λ·log N times anyway) and costs every receiver its parsing.
      piggybackBytesMax: 4_096,
      gossipQueueMax: 256, // a burst of 256 changes in flight; a join storm beyond that converges by push-pull
      heartbeatIntervalMs: 2_000,
      failureTimeoutMs: 7_000, // 3.5 heartbeats: one lost heartbeat never makes a suspect
      suspicionMs: 1_000, // dead within timeout + one heartbeat of the last message
      tickMs: 250,
    },
    views: {
      watchersMax: 256, // 100 clients on a 3-cell swarm fit (34 each); a batch then costs at most 256 datagrams per news datagram
      leaseMs: 10_000, // five renewals: a few lost renewals never drop a live client, a stopped one is forgotten in 10 s
      renewEveryMs: 2_000, // one ~100-byte request per client every 2 s: a dead watched cell is left within 2 s + requestTimeoutMs
      requestTimeoutMs: 1_000, // several retransmissions on any path; a live cell answers a watch's first fragment well within it
      batchMs: 25, // a death seen by the cell reaches its watchers within ~25 ms + one hop, well inside 100 ms
      usageEveryMs: 5_000, // usage moves with every write; top and placement weights need it to within seconds, not at once
      usageEntriesMax: 64, // ~16 KB per 5 s per watcher at most, however many cells are being written to
      newsEntriesMax: 128, // ~30 KB of news; more changed at once (a swarm restarting) is cheaper as one whole table
    },
    store: {
      capacityBytes: 0,
      selfScrubBytesPerSec: 32 * 1024 * 1024, // 8 chunks of 4 MiB a second: a quarter of a disk's, the rest left for serving
    },
    immune: {
      scrubBytesPerSec: 8 * 1024 * 1024, // a slow, steady background read: never competes with users
      scrubPeriodMs: 60_000,
      quarantineAfter: 3,
      testFalseAlertMs: 0,
    },
    differentiation: {
      storagePerGuard: 5,
      decideEveryMs: 1_000,
      inhibitionMsMax: 3_000, // above the heartbeat interval: neighbours hear an intent before acting on their own
      fullBelowFreeShare: 0.1,
    },
    placement: { replicas: 3, writeQuorum: 2, chunkBytes: CHUNK_BYTES_MAX, weightByCapacity: false },
    heal: {
      antiEntropyMs: 10_000,
      repairBytesPerSec: 64 * 1024 * 1024, // a quarter of a loopback cell's chunk throughput
      settleMs: 50, // batches the events of one failure (a partition, a rack) without delaying a repair noticeably
      repairConcurrency: 4,
      leftGraceMs: 600_000, // Ceph marks a down OSD out after 600 s: a restart, an upgrade or a reboot fit in it
    },
  };
}

/** Defaults of a client's hedged reads (see ReadHedgeConfig). */
export function defaultReadHedgeConfig(): ReadHedgeConfig {
  return {
    delayInitialMs: 100, // a healthy first read here takes 2-60 ms: a dead first replica costs this much on a fresh mount
    delayMinMs: 30, // an O_DIRECT 4 MiB chunk read and its hash take ~10 ms, plus scheduling jitter on a shared core
    delayMaxMs: 200, // plus a healthy read under load (~100-250 ms for a whole 4 MiB chunk) stays within 0.5 s
    deadlineDelays: 4, // silent for 4 of its usual answer times: dead or hung, not slow
    budgetPerRead: 0.1, // at most ~10% more requests in the long run: hedging never doubles the traffic
    budgetMax: 10,
    peersMax: 4_096,
  };
}

/** Checks every field and every relationship; returns all problems at once (empty = valid). */
export function validateConfig(c: CellConfig): string[] {
  const problems: string[] = [];
  const positive = (name: string, v: number) => {
    if (!Number.isFinite(v) || v <= 0) problems.push(`${name} must be a positive number (got ${v})`);
  };
  const w = c.wire;
  for (const [k, v] of Object.entries(w)) positive(`wire.${k}`, v as number);
  if (w.datagramBytesMax < DATAGRAM_BYTES_MIN || w.datagramBytesMax > UDP_PAYLOAD_BYTES_MAX) {
    problems.push(`wire.datagramBytesMax must be between ${DATAGRAM_BYTES_MIN} and ${UDP_PAYLOAD_BYTES_MAX}`);
  }
  if (w.rtoMinMs > w.rtoMaxMs) problems.push('wire.rtoMinMs must not exceed wire.rtoMaxMs');
  if (w.dedupTtlMs < Math.max(w.requestTimeoutMs, w.bulkTimeoutMs)) {
    problems.push('wire.dedupTtlMs must exceed the longest request deadline, or a late retry runs twice');
  }
  const m = c.membership;
  if (!MEMBERSHIP_DETECTORS.includes(m.detector)) problems.push(`membership.detector must be one of ${MEMBERSHIP_DETECTORS.join(', ')}`);
  for (const [k, v] of Object.entries(m)) if (k !== 'detector') positive(`membership.${k}`, v as number);
  if (m.probeTimeoutMs >= m.probeIntervalMs) problems.push('membership.probeTimeoutMs must be below the probe interval');
  for (const k of ['indirectChecks', 'retransmitMult', 'suspicionMult', 'suspicionMaxTimeoutMult', 'awarenessMax', 'gossipNodes', 'announceToAllMax', 'gossipQueueMax'] as const) {
    if (!Number.isInteger(m[k])) problems.push(`membership.${k} must be a whole number`);
  }
  if (m.suspicionMult < 2) problems.push('membership.suspicionMult must be at least 2');
  if (m.failureTimeoutMs <= 3 * m.heartbeatIntervalMs) {
    problems.push('membership.failureTimeoutMs must exceed 3 heartbeat intervals');
  }
  if (m.tickMs > m.heartbeatIntervalMs) problems.push('membership.tickMs must not exceed the heartbeat interval');
  const views = c.views;
  for (const [k, x] of Object.entries(views)) positive(`views.${k}`, x as number);
  if (2 * views.renewEveryMs + views.requestTimeoutMs > views.leaseMs) {
    problems.push('views.leaseMs must exceed two renewals and a request deadline, or a live client loses its watch to one lost renewal');
  }
  if (views.batchMs >= views.renewEveryMs) problems.push('views.batchMs must be below views.renewEveryMs');
  for (const [k, v] of Object.entries(c.faults)) {
    if (!Number.isFinite(v) || v < 0) problems.push(`faults.${k} must be >= 0`);
  }
  for (const k of ['lossRate', 'dupRate', 'reorderRate'] as const) {
    if (c.faults[k] >= 1) problems.push(`faults.${k} must be below 1`);
  }
  const p = c.placement;
  if (!Number.isInteger(p.replicas) || p.replicas < 1 || p.replicas > 16) problems.push('placement.replicas must be 1..16');
  if (!Number.isInteger(p.writeQuorum) || p.writeQuorum < 1 || p.writeQuorum > p.replicas) {
    problems.push('placement.writeQuorum must be 1..replicas');
  }
  if (!Number.isInteger(p.chunkBytes) || p.chunkBytes < 4096 || p.chunkBytes > CHUNK_BYTES_MAX) {
    problems.push('placement.chunkBytes must be 4 KiB..4 MiB');
  }
  for (const [k, v] of Object.entries(c.heal)) positive(`heal.${k}`, v as number);
  for (const k of ['scrubBytesPerSec', 'scrubPeriodMs', 'quarantineAfter'] as const) positive(`immune.${k}`, c.immune[k]);
  if (!(c.immune.testFalseAlertMs >= 0)) problems.push('immune.testFalseAlertMs must be >= 0');
  for (const [k, v] of Object.entries(c.differentiation)) positive(`differentiation.${k}`, v as number);
  if (!Number.isFinite(c.store.capacityBytes) || c.store.capacityBytes < 0) {
    problems.push('store.capacityBytes must be >= 0');
  }
  positive('store.selfScrubBytesPerSec', c.store.selfScrubBytesPerSec);
  return problems;
}
