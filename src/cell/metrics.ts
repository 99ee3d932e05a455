import { MEMBER_STATES, type MemberState, type StatusHeal, type StatusImmune, type StatusStore, type WireCounters } from '../wire/index.js';
import { Registry, counterOf, gaugeOf, labelledGaugeOf, processMetrics, wireMetrics } from '../metrics/index.js';

/** What a cell's metrics are read from, at each scrape: the counters its parts keep anyway. */
export interface CellMetricSources {
  store: () => StatusStore;
  heal: () => StatusHeal;
  immune: () => StatusImmune;
  wire: () => WireCounters;
  /** The states of the members in this cell's view (itself included). */
  memberStates: () => MemberState[];
  /** Members this cell saw quarantined since it started. */
  quarantinesSeen: () => number;
}

/**
 * A cell's metrics (`cell start --metrics`): its store, repairs, scrubbing,
 * corruptions and alerts, quarantines, members by state and its wire
 * counters. Every figure is read when scraped; none is kept for metrics.
 */
export function cellRegistry(s: CellMetricSources): Registry {
  const r = new Registry();
  gaugeOf(r, 'cellsync_store_chunks', 'Chunks held by this cell.', () => s.store().chunks);
  gaugeOf(r, 'cellsync_store_bytes', 'Bytes of chunks held by this cell.', () => s.store().bytes);
  gaugeOf(r, 'cellsync_store_capacity_bytes', 'Bytes of chunks this cell may hold.', () => s.store().capacityBytes);
  gaugeOf(r, 'cellsync_store_records', 'Namespace records held by this cell.', () => s.store().records);
  counterOf(r, 'cellsync_repair_copies_total', 'Chunk copies this cell made on other cells to bring chunks back to R copies.', () => s.heal().pushed);
  counterOf(r, 'cellsync_repair_bytes_total', 'Bytes of the repair copies this cell made.', () => s.heal().pushedBytes);
  counterOf(r, 'cellsync_repair_passes_total', 'Anti-entropy passes finished.', () => s.heal().passes);
  counterOf(r, 'cellsync_repair_surplus_removed_total', 'Surplus copies removed once R copies were confirmed elsewhere.', () => s.heal().removed);
  counterOf(r, 'cellsync_repair_records_pushed_total', 'Namespace records copied to cells that lacked them.', () => s.heal().recordsPushed);
  gaugeOf(r, 'cellsync_repair_last_pass_under_replicated', 'Chunks the last pass found short of R copies.', () => s.heal().lastPassRepairs);
  gaugeOf(r, 'cellsync_repair_waiting_for_left', 'Chunks at R-1 waiting for a cell stopped in order to come back.', () => s.heal().heldForLeft);
  counterOf(r, 'cellsync_scrub_passes_total', 'Scrub passes over every storage cell finished (guards).', () => s.immune().passes);
  counterOf(r, 'cellsync_scrub_chunks_total', 'Chunks re-read and re-hashed by this guard.', () => s.immune().chunks);
  counterOf(r, 'cellsync_scrub_bytes_total', 'Bytes re-read and re-hashed by this guard.', () => s.immune().bytes);
  gaugeOf(r, 'cellsync_scrub_pass_progress_ratio', 'How far the current scrub pass is, 0 to 1 (the share of storage cells scrubbed).', () => s.immune().passProgress);
  counterOf(r, 'cellsync_corruptions_found_total', "Corrupt chunk files found on this cell's own disk.", () => s.store().corruptFound);
  counterOf(r, 'cellsync_alerts_raised_total', 'Corruption alerts this cell raised (its scrub or its own disk).', () => s.immune().alertsRaised);
  counterOf(r, 'cellsync_alerts_confirmed_total', 'Corruptions confirmed, as this cell counted them (each chunk of each accused cell once).', () => s.immune().confirmed);
  counterOf(r, 'cellsync_alerts_rejected_total', 'Alerts this cell checked and found false.', () => s.immune().rejected);
  counterOf(r, 'cellsync_quarantines_total', 'Members this cell saw quarantined.', () => s.quarantinesSeen());
  labelledGaugeOf(r, 'cellsync_members', "Members in this cell's view, by state (itself included).", 'state', MEMBER_STATES, () => {
    const byState = Object.fromEntries(MEMBER_STATES.map((st) => [st, 0])) as Record<MemberState, number>;
    for (const st of s.memberStates()) byState[st]++;
    return byState;
  });
  wireMetrics(r, s.wire);
  processMetrics(r);
  return r;
}
