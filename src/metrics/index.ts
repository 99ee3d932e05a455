export { METRICS_PORT_EXAMPLE, MetricsAddrError, formatMetricsAddr, isLoopback, parseMetricsAddr, type MetricsAddr } from './address.js';
export { counterOf, gaugeOf, labelledCounterOf, labelledGaugeOf, processMetrics } from './collected.js';
export { FixedHistogram } from './fixed-histogram.js';
export { Scrape, scrapeMetrics, type ParsedSample } from './scrape.js';
export { METRICS_PATH, MetricsServer } from './server.js';
export { wireMetrics } from './wire-metrics.js';
export { Registry } from 'prom-client';
