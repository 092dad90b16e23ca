export {
  TidemarkMetrics,
  type TidemarkMetricsOptions,
  type DefaultMetricsOptions,
  type InstrumentOptions,
  type ServeOptions,
} from './tidemark-metrics.js';
export { startMetricsServer, type MetricsServer, type MetricsServerOptions } from './metrics-server.js';
export type { Probe, ProbeResult } from './probe.js';
