// A small HTTP proxy between an S3 client and the real server, injecting the
// faults object stores show: throttling answers (503 SlowDown, 429), a
// connection dropped in the middle of a request body, a server that stalls
// past the client's timeout, and the server gone (connections refused) and
// back. Requests pass unchanged (Host header included, so signatures hold).
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';

/** What to do to a matching request. */
export type FaultAction =
  | { kind: 'throttle'; status: 503 | 429 | 500; code: string }
  | { kind: 'drop'; afterBytes: number }
  | { kind: 'stall'; ms: number };

export interface Fault {
  /** Which requests: method and URL (path + query), e.g. `PUT /bucket/key?partNumber=2&uploadId=...`. */
  match: (method: string, url: string) => boolean;
  action: FaultAction;
  /** How many matching requests get it (default 1). */
  times?: number;
}

export class FaultProxy {
  readonly faults: Fault[] = [];
  /** Every request seen, `METHOD url`, and what was done. */
  readonly seen: string[] = [];
  private server: http.Server | undefined;
  private port = 0;
  private readonly target: URL;
  private readonly sockets = new Set<import('node:net').Socket>();

  constructor(target: string) {
    this.target = new URL(target);
  }

  get endpoint(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    const server = http.createServer((req, res) => this.handle(req, res));
    server.keepAliveTimeout = 1000;
    server.on('connection', (s) => {
      this.sockets.add(s);
      s.once('close', () => this.sockets.delete(s));
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => resolve());
    });
    this.port = (server.address() as AddressInfo).port;
    this.server = server;
  }

  /** Stops listening and cuts every open connection: the server is gone. */
  async stop(): Promise<void> {
    const s = this.server;
    this.server = undefined;
    if (s === undefined) return;
    const closed = new Promise<void>((resolve) => s.close(() => resolve()));
    for (const sock of this.sockets) sock.destroy();
    await closed;
  }

  private take(method: string, url: string): FaultAction | undefined {
    const i = this.faults.findIndex((f) => f.match(method, url));
    if (i < 0) return undefined;
    const f = this.faults[i]!;
    f.times = (f.times ?? 1) - 1;
    if (f.times <= 0) this.faults.splice(i, 1);
    return f.action;
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const method = req.method ?? 'GET';
    const url = req.url ?? '/';
    const action = this.take(method, url);
    this.seen.push(`${method} ${url}${action ? ` [${action.kind}]` : ''}`);
    if (action?.kind === 'throttle') {
      req.resume();
      req.once('end', () => {
        const body = `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${action.code}</Code><Message>injected</Message><RequestId>x</RequestId></Error>`;
        res.writeHead(action.status, { 'content-type': 'application/xml', 'content-length': Buffer.byteLength(body) });
        res.end(body);
      });
      return;
    }
    if (action?.kind === 'stall') {
      // Swallow the request and answer nothing until the client gives up.
      req.resume();
      const t = setTimeout(() => req.socket.destroy(), action.ms);
      req.socket.once('close', () => clearTimeout(t));
      return;
    }
    const upstream = http.request(
      { host: this.target.hostname, port: this.target.port, method, path: url, headers: req.headers },
      (up) => {
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.pipe(res);
      },
    );
    upstream.on('error', () => req.socket.destroy());
    if (action?.kind === 'drop') {
      let n = 0;
      req.on('data', (chunk: Buffer) => {
        n += chunk.length;
        if (n >= action.afterBytes) {
          // The connection dies mid-body: neither side sees the rest.
          upstream.destroy();
          req.socket.destroy();
        } else upstream.write(chunk);
      });
      req.on('end', () => upstream.end());
      return;
    }
    req.pipe(upstream);
  }
}
