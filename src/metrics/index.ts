export { METRICS_PORT_EXAMPLE, MetricsAddrError, formatMetricsAddr, isLoopback, parseMetricsAddr, type MetricsAddr } from './address.js';
export { counterOf, gaugeOf, labelledCounterOf, labelledGaugeOf, processMetrics } from './collected.js';
export { FixedHistogram } from './fixed-histogram.js';
export { Scrape, scrapeMetrics, type HistogramSeries } from './scrape.js';
export { parseTextFormat, type TextSample } from './text-format.js';
export { METRICS_PATH, MetricsServer } from './server.js';
export { wireMetrics, type WireCounters } from './wire-metrics.js';
export { Registry } from 'prom-client';
