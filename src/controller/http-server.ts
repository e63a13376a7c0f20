// The operator's HTTP endpoints: /healthz (liveness), /readyz (readiness) and /metrics
// (Prometheus text). One small server; the operator starts one per address (--health-addr,
// --metrics-addr; one when they are the same), each serving every route.
//
// /healthz and /readyz answer like the Kubernetes API server's: `ok` (200) or the failing checks
// (500), one `[+]name ok` / `[-]name failed: why` line per check with `?verbose`, and
// `?exclude=NAME` leaves a check out (a probe that must not wait for leadership can exclude
// `leader`).

import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';

/** A named check: undefined when it passes, else why not. */
export interface Check {
  readonly name: string;
  readonly check: () => string | undefined;
}

export interface HttpRoutes {
  readonly healthz: readonly Check[];
  readonly readyz: readonly Check[];
  readonly metrics: () => Promise<{ readonly contentType: string; readonly body: string }>;
}

export interface RunningHttpServer {
  /** The port bound (the one picked, for port 0). */
  readonly port: number;
  readonly host: string;
  close(): Promise<void>;
}

/** `HOST:PORT`, `:PORT` (every address) or `[v6]:PORT`. */
export function parseListenAddress(value: string): { readonly host: string; readonly port: number } | undefined {
  const match = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(value);
  if (match === null) return undefined;
  const port = Number(match[3]);
  if (port > 65535) return undefined;
  return { host: match[1] ?? match[2] ?? '', port };
}

/** The body and status of a check endpoint. */
export function runChecks(checks: readonly Check[], query: URLSearchParams): { readonly status: number; readonly body: string } {
  const excluded = new Set(query.getAll('exclude'));
  const lines: string[] = [];
  let failed = false;
  for (const { name, check } of checks) {
    if (excluded.has(name)) {
      lines.push(`[+]${name} excluded: ok`);
      continue;
    }
    const problem = check();
    if (problem === undefined) lines.push(`[+]${name} ok`);
    else {
      failed = true;
      lines.push(`[-]${name} failed: ${problem}`);
    }
  }
  const verbose = query.has('verbose') || failed;
  const body = verbose ? `${lines.join('\n')}\n${failed ? 'check failed' : 'ok'}\n` : 'ok\n';
  return { status: failed ? 500 : 200, body };
}

function send(res: ServerResponse, status: number, contentType: string, body: string): void {
  res.writeHead(status, { 'Content-Type': contentType, 'Cache-Control': 'no-store' });
  res.end(body);
}

async function handle(routes: HttpRoutes, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://localhost');
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    send(res, 405, 'text/plain; charset=utf-8', 'method not allowed\n');
    return;
  }
  switch (url.pathname) {
    case '/healthz':
    case '/livez': {
      const { status, body } = runChecks(routes.healthz, url.searchParams);
      send(res, status, 'text/plain; charset=utf-8', body);
      return;
    }
    case '/readyz': {
      const { status, body } = runChecks(routes.readyz, url.searchParams);
      send(res, status, 'text/plain; charset=utf-8', body);
      return;
    }
    case '/metrics': {
      const { contentType, body } = await routes.metrics();
      send(res, 200, contentType, body);
      return;
    }
    default:
      send(res, 404, 'text/plain; charset=utf-8', 'not found\n');
  }
}

/** Listens on `host:port` (port 0: one is picked; see `port`). */
export function startHttpServer(host: string, port: number, routes: HttpRoutes): Promise<RunningHttpServer> {
  const server = createServer((req, res) => {
    handle(routes, req, res).catch((error: unknown) => {
      if (!res.headersSent) send(res, 500, 'text/plain; charset=utf-8', `${error instanceof Error ? error.message : String(error)}\n`);
      else res.destroy();
    });
  });
  // Probes and scrapers open short connections; do not let an idle one hold shutdown.
  server.keepAliveTimeout = 5000;
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: host === '' ? undefined : host, port }, () => {
      server.off('error', reject);
      const address = server.address();
      const bound = typeof address === 'object' && address !== null ? address.port : port;
      resolve({
        port: bound,
        host,
        close: () =>
          new Promise<void>((done) => {
            server.close(() => done());
            server.closeAllConnections();
          }),
      });
    });
  });
}
