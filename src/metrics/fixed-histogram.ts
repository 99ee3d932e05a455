import type { Metric, Registry } from 'prom-client';

/**
 * A histogram over one label whose values are a fixed list (FUSE operations),
 * kept in typed arrays: observe() is an index and a few additions, no
 * allocation, for code on a hot path (every FUSE request). prom-client's own
 * Histogram builds a closure and a label hash on every observe (about 0.35 µs
 * here, docs/decisions/0039-metrics-endpoints.md); this one is formatted by
 * prom-client's registry all the same, through the shape its metrics' get()
 * returns.
 */
export class FixedHistogram<L extends string> {
  /** Observations per label value and bucket, not cumulative (made cumulative when scraped). */
  private readonly buckets: Float64Array;
  private readonly sums: Float64Array;
  private readonly counts: Float64Array;

  constructor(
    readonly name: string,
    readonly help: string,
    private readonly label: string,
    private readonly values: readonly L[],
    /** Upper bounds, ascending; +Inf is implied. */
    private readonly bounds: readonly number[],
  ) {
    this.buckets = new Float64Array(values.length * bounds.length);
    this.sums = new Float64Array(values.length);
    this.counts = new Float64Array(values.length);
  }

  /** Counts `v` for label value number `index` (its place in `values`). */
  observe(index: number, v: number): void {
    this.counts[index]!++;
    this.sums[index]! += v;
    const bounds = this.bounds;
    for (let b = 0; b < bounds.length; b++) {
      if (v <= bounds[b]!) {
        this.buckets[index * bounds.length + b]!++;
        return;
      }
    }
  }

  /** How many were observed for label value number `index`. */
  count(index: number): number {
    return this.counts[index]!;
  }

  register(registry: Registry): void {
    // The registry needs only name and get() (it formats what get() returns); not a prom-client class, hence the cast.
    registry.registerMetric(this as unknown as Metric);
  }

  /** prom-client's metric shape: _bucket (cumulative, with le), _sum and _count per label value. */
  async get() {
    const values: { labels: Record<string, string | number>; value: number; metricName: string }[] = [];
    const n = this.bounds.length;
    this.values.forEach((lv, i) => {
      let acc = 0;
      for (let b = 0; b < n; b++) {
        acc += this.buckets[i * n + b]!;
        values.push({ labels: { [this.label]: lv, le: this.bounds[b]! }, value: acc, metricName: `${this.name}_bucket` });
      }
      values.push({ labels: { [this.label]: lv, le: '+Inf' }, value: this.counts[i]!, metricName: `${this.name}_bucket` });
      values.push({ labels: { [this.label]: lv }, value: this.sums[i]!, metricName: `${this.name}_sum` });
      values.push({ labels: { [this.label]: lv }, value: this.counts[i]!, metricName: `${this.name}_count` });
    });
    return { name: this.name, help: this.help, type: 'histogram', values, aggregator: 'sum' };
  }
}
