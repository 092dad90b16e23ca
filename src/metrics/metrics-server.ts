import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import { ConfigError } from '../errors/config-error.js';
import { checkOptions, functionOption, intOption } from '../util/options.js';
import { runProbe, type Probe } from './probe.js';

/** Options for {@link startMetricsServer}. */
export interface MetricsServerOptions {
  /** TCP port; 0 picks a free one (see {@link MetricsServer.port}). */
  port: number;
  /** Address to listen on; default every interface (Prometheus scrapes from elsewhere). */
  host?: string;
  /** Served at /metrics. */
  registry: Registry;
  /** /readyz: 200 while true, 503 with the reason otherwise. */
  ready: Probe;
  /** /healthz: 200 while true, 503 with the reason otherwise; default always healthy. */
  healthy?: Probe;
}

/** A running metrics server. */
export interface MetricsServer {
  /** The port bound (the one picked, for port 0). */
  readonly port: number;
  /** Where it can be reached, e.g. `http://127.0.0.1:9464`. */
  readonly url: string;
  /** Stops listening and ends open connections; resolves once the port is free. */
  close(): Promise<void>;
}

const PATHS = new Set(['/metrics', '/healthz', '/readyz']);

/**
 * Serves GET /metrics (the registry in Prometheus text format), /healthz and
 * /readyz (200 or 503 with the reason as plain text), 404 for anything else.
 */
export async function startMetricsServer(options: MetricsServerOptions): Promise<MetricsServer> {
  checkOptions(options, 'metrics server', ['port', 'host', 'registry', 'ready', 'healthy']);
  const { port, host, registry, ready, healthy } = options;
  intOption('port', port, { min: 0, max: 65535 });
  if (host !== undefined && (typeof host !== 'string' || host === ''))
    throw new ConfigError('"host" must be a non-empty string');
  if (typeof registry?.metrics !== 'function') throw new ConfigError('"registry" must be a prom-client Registry');
  const probe = 'a function returning a boolean or { ok, reason }';
  if (functionOption('ready', ready, probe) === undefined) throw new ConfigError(`"ready" must be ${probe}`);
  functionOption('healthy', healthy, probe);

  const server = http.createServer((req, res) => {
    void respond(req, res, registry, ready, healthy);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ port, ...(host === undefined ? {} : { host }) }, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const bound = (server.address() as AddressInfo).port;
  const shown =
    host === undefined || host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host;
  let closing: Promise<void> | undefined;
  return {
    port: bound,
    url: `http://${shown}:${bound}`,
    close() {
      closing ??= new Promise<void>((resolve, reject) => {
        // Keep-alive connections would hold the port: idle ones go now, a scrape in flight gets a second to finish.
        const cutoff = setTimeout(() => server.closeAllConnections(), 1000).unref();
        server.close((err) => {
          clearTimeout(cutoff);
          if (err === undefined) resolve();
          else reject(err);
        });
        server.closeIdleConnections();
      });
      return closing;
    },
  };
}

async function respond(
  req: http.IncomingMessage,
  res: http.ServerResponse,
  registry: Registry,
  ready: Probe,
  healthy: Probe | undefined,
): Promise<void> {
  const path = (req.url ?? '/').split('?', 1)[0]!;
  if (!PATHS.has(path)) return send(res, 404, 'not found: try /metrics, /healthz or /readyz\n');
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.setHeader('Allow', 'GET, HEAD');
    return send(res, 405, 'method not allowed\n');
  }
  if (path === '/metrics') {
    let body: string;
    try {
      body = await registry.metrics();
    } catch (err) {
      return send(res, 500, `collecting metrics failed: ${(err as Error).message}\n`);
    }
    return send(res, 200, body, registry.contentType);
  }
  const probe = runProbe(path === '/readyz' ? ready : healthy);
  if (probe.ok) return send(res, 200, path === '/readyz' ? 'ready\n' : 'ok\n');
  return send(res, 503, `${path === '/readyz' ? 'not ready' : 'unhealthy'}: ${probe.reason ?? 'no reason given'}\n`);
}

function send(res: http.ServerResponse, status: number, body: string, type = 'text/plain; charset=utf-8'): void {
  res.writeHead(status, {
    'Content-Type': type,
    'Content-Length': Buffer.byteLength(body),
    'Cache-Control': 'no-store',
  });
  res.end(res.req.method === 'HEAD' ? undefined : body);
}
