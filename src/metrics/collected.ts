import { Counter, Gauge, type Registry } from 'prom-client';

/*
 * Metrics read when scraped: each is a prom-client metric whose collect
 * callback copies a value the process keeps anyway (a store's, a healer's
 * or an endpoint's counters), so that serving metrics adds no bookkeeping
 * where the work is done. Label values come from fixed lists only (member
 * states, drop reasons): a series set that cannot grow.
 */

/** A counter that is `read()` at each scrape (a total the process keeps, never decreasing). */
export function counterOf(registry: Registry, name: string, help: string, read: () => number): void {
  new Counter({
    name,
    help,
    registers: [registry],
    collect() {
      this.reset();
      this.inc(read());
    },
  });
}

/** A counter per value of one label, from a fixed list; `read(value)` at each scrape. */
export function labelledCounterOf<L extends string>(registry: Registry, name: string, help: string, label: string, values: readonly L[], read: (v: L) => number): void {
  new Counter({
    name,
    help,
    labelNames: [label],
    registers: [registry],
    collect() {
      this.reset();
      for (const v of values) this.inc({ [label]: v }, read(v));
    },
  });
}

/** A gauge that is `read()` at each scrape. */
export function gaugeOf(registry: Registry, name: string, help: string, read: () => number): void {
  new Gauge({
    name,
    help,
    registers: [registry],
    collect() {
      this.set(read());
    },
  });
}

/** A gauge per value of one label, from a fixed list; `read()` at each scrape gives every value's figure. */
export function labelledGaugeOf<L extends string>(registry: Registry, name: string, help: string, label: string, values: readonly L[], read: () => Record<L, number>): void {
  new Gauge({
    name,
    help,
    labelNames: [label],
    registers: [registry],
    collect() {
      const figures = read();
      for (const v of values) this.set({ [label]: v }, figures[v]);
    },
  });
}

/**
 * What every process serving metrics says about itself: its memory (the
 * mount's RSS is bounded by design) and CPU time. prom-client's
 * collectDefaultMetrics is not used: it keeps an event-loop delay monitor
 * sampling every 10 ms for the life of the process, a timer on the mount's
 * event loop that nothing could stop.
 */
export function processMetrics(registry: Registry): void {
  gaugeOf(registry, 'process_resident_memory_bytes', 'Resident memory size in bytes.', () => process.memoryUsage.rss());
  gaugeOf(registry, 'nodejs_heap_used_bytes', "V8's heap in use, in bytes.", () => process.memoryUsage().heapUsed);
  counterOf(registry, 'process_cpu_seconds_total', 'User and system CPU time spent, in seconds.', () => {
    const { user, system } = process.cpuUsage();
    return (user + system) / 1e6;
  });
}
