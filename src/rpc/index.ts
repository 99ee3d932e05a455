export {
  Endpoint,
  type CallOptions,
  type EndpointComponents,
  type EndpointInit,
  type Incoming,
  type RequestHandler,
  type NotifyHandler,
  type NoticeOptions,
  type RequestOptions,
} from './endpoint.js';
export type { WireCounters } from './counters.js';
export { RttEstimator } from './rtt.js';
