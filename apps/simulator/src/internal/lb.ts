import {
  createServer,
  request as httpRequest,
  type IncomingMessage,
  type Server,
  type ServerResponse,
  Agent,
} from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Prng } from './prng.js';

/** Link conditions between one replica and the ingest tier at one moment. */
export interface LinkState {
  readonly cut: boolean;
  readonly delayMs: number;
  readonly lossProbability: number;
  readonly duplicateProbability: number;
}

export const HEALTHY_LINK: LinkState = {
  cut: false,
  delayMs: 0,
  lossProbability: 0,
  duplicateProbability: 0,
};

/** Header the fake replicas set so the balancer can apply per-replica link faults: `<cluster>/<replica>`. */
export const ORIGIN_HEADER = 'x-promha-sim-origin';

export interface BalancerOptions {
  readonly backends: () => readonly number[];
  readonly link: (cluster: number, replica: number) => LinkState;
  readonly rng: Prng;
  readonly sleep: (ms: number) => Promise<void>;
}

export interface BalancerStats {
  requests: number;
  cut: number;
  lostBefore: number;
  lostAfter: number;
  duplicated: number;
  noBackend: number;
}

const FORWARDED_HEADERS = [
  'content-type',
  'content-encoding',
  'x-prometheus-remote-write-version',
  'user-agent',
  'authorization',
];

/**
 * A small HTTP load balancer in front of the ingest instances. Requests go round robin, so the requests of one
 * replica reach different instances, as behind a production balancer; a backend that refuses the connection is
 * skipped (like nginx's `proxy_next_upstream error`), and 502 comes back only when none answers. It also plays
 * the network between replicas and the ingest tier: cut links reset the connection, slow links add latency,
 * lossy links lose the request or its answer (the latter after the ingest has processed it), and duplicate
 * deliveries forward the same request to two instances at once.
 */
export class LoadBalancer {
  private server: Server | undefined;
  private next = 0;
  private readonly agent = new Agent({ keepAlive: true, maxSockets: 64 });
  readonly stats: BalancerStats = {
    requests: 0,
    cut: 0,
    lostBefore: 0,
    lostAfter: 0,
    duplicated: 0,
    noBackend: 0,
  };

  constructor(private readonly o: BalancerOptions) {}

  async listen(): Promise<number> {
    const server = createServer((req, res) => void this.handle(req, res));
    this.server = server;
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return (server.address() as AddressInfo).port;
  }

  async close(): Promise<void> {
    const server = this.server;
    this.agent.destroy();
    if (server === undefined) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    this.stats.requests++;
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks);
    const origin = /^(\d+)\/(\d+)$/.exec(String(req.headers[ORIGIN_HEADER] ?? ''));
    const link = origin === null ? HEALTHY_LINK : this.o.link(Number(origin[1]), Number(origin[2]));
    if (link.cut) {
      this.stats.cut++;
      req.socket.destroy();
      return;
    }
    if (link.delayMs > 0) await this.o.sleep(link.delayMs);
    const lose = link.lossProbability > 0 && this.o.rng.chance(link.lossProbability);
    const loseBefore = lose && this.o.rng.chance(0.5);
    if (loseBefore) {
      this.stats.lostBefore++;
      req.socket.destroy();
      return;
    }
    const headers: Record<string, string> = {};
    for (const h of FORWARDED_HEADERS) {
      const v = req.headers[h];
      if (typeof v === 'string') headers[h] = v;
    }
    const duplicate = link.duplicateProbability > 0 && this.o.rng.chance(link.duplicateProbability);
    const path = req.url ?? '/write';
    const first = this.forward(path, headers, body);
    if (duplicate) {
      this.stats.duplicated++;
      void this.forward(path, headers, body);
    }
    const answer = await first;
    if (lose) {
      // The ingest has processed the request; only the answer is lost, so the replica will resend it.
      this.stats.lostAfter++;
      req.socket.destroy();
      return;
    }
    if (answer === undefined) {
      this.stats.noBackend++;
      res.writeHead(502, { 'content-type': 'text/plain' }).end('no ingest instance answered\n');
      return;
    }
    res.writeHead(answer.status, answer.headers).end(answer.body);
  }

  private async forward(
    path: string,
    headers: Record<string, string>,
    body: Buffer,
  ): Promise<{ status: number; headers: Record<string, string>; body: Buffer } | undefined> {
    const ports = this.o.backends();
    for (let i = 0; i < ports.length; i++) {
      const port = ports[this.next++ % ports.length]!;
      const result = await this.once(port, path, headers, body);
      if (result !== 'refused') return result;
    }
    return undefined;
  }

  private once(
    port: number,
    path: string,
    headers: Record<string, string>,
    body: Buffer,
  ): Promise<{ status: number; headers: Record<string, string>; body: Buffer } | 'refused'> {
    return new Promise((resolve) => {
      const r = httpRequest(
        {
          host: '127.0.0.1',
          port,
          path,
          method: 'POST',
          headers: { ...headers, 'content-length': String(body.length) },
          agent: this.agent,
          timeout: 30_000,
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('error', () => resolve({ status: 502, headers: {}, body: Buffer.alloc(0) }));
          res.on('end', () => {
            const out: Record<string, string> = {};
            for (const [k, v] of Object.entries(res.headers)) {
              if (
                typeof v === 'string' &&
                (k.startsWith('x-prometheus-') || k === 'retry-after' || k === 'content-type')
              )
                out[k] = v;
            }
            resolve({
              status: res.statusCode ?? 502,
              headers: out,
              body: Buffer.concat(chunks),
            });
          });
        },
      );
      r.on('timeout', () => r.destroy(new Error('backend timeout')));
      r.on('error', (e: NodeJS.ErrnoException) => {
        // A refused connection never reached the ingest: safe to try the next instance. Anything else (a
        // reset mid-request, as when an instance is killed) may have been processed: answer 502 so the replica
        // retries, as a real balancer would.
        resolve(e.code === 'ECONNREFUSED' ? 'refused' : { status: 502, headers: {}, body: Buffer.alloc(0) });
      });
      r.end(body);
    });
  }
}
