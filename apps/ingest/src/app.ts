/**
 * The HTTP surface of the ingest service as a Fastify plugin. It receives only narrow ports (a write pipeline,
 * readers, a health source, metrics), so route tests run with `inject()` and fakes, and `main.ts` alone listens.
 *
 * Status mapping (`docs/design.md`, "Wire contract"): 204 stored, 202 all deduplicated, 400/413/415 from the codec with
 * its message, 400 for data the database refuses (errors.ts), 401 without valid credentials, 503 with Retry-After
 * for overload and for database or lease-store trouble (never 429), 500 for a bug.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Label, LabelMatcher } from '@promha/codec';
import type { Lease, LeaseChange } from '@promha/election';
import type { Authenticator } from './auth.js';
import { StorageError } from '@promha/storage';
import { fromStorage, IngestError } from './errors.js';
import { DEFAULT_SELECTOR_LIMITS, parseSelector, type SelectorLimits } from './internal/selector.js';
import type { IngestMetrics } from './metrics.js';

/** Counts a remote-write 2.0 answer reports in its `X-Prometheus-Remote-Write-*-Written` headers. */
export interface Written {
  readonly samples: number;
  readonly histograms: number;
  readonly exemplars: number;
}

/** What became of an accepted write. */
export interface WriteResult {
  /** `stored`: 204 (something stored, or nothing needed storing); `deduplicated`: 202 (all of it non-leader). */
  readonly kind: 'stored' | 'deduplicated';
  readonly version: 1 | 2;
  readonly written: Written;
}

/** The write path: decode, decide, store. Throws errors carrying an HTTP `status` (see errors.ts). */
export interface WritePipeline {
  /** True when the in-flight bound is reached: the route answers 503 before reading the body. */
  overloaded(): boolean;
  /**
   * `origin`: the sender's connection, or anything that stands for one sender's stream of requests (a request
   * without one is treated as a stranger's).
   */
  write(body: Buffer, contentType: string | undefined, origin?: object): Promise<WriteResult>;
}

/** Remote read: a snappy-compressed ReadRequest in, a snappy-compressed SAMPLES ReadResponse out. */
export interface RemoteReader {
  read(body: Buffer): Promise<Uint8Array>;
}

/** The Prometheus HTTP API's metadata queries. Each `selectors` entry is one `match[]` (results are unioned). */
export interface QueryApi {
  series(selectors: readonly (readonly LabelMatcher[])[], start: number, end: number, limit?: number): Promise<readonly (readonly Label[])[]>;
  labelNames(selectors: readonly (readonly LabelMatcher[])[], start: number, end: number): Promise<readonly string[]>;
  labelValues(name: string, selectors: readonly (readonly LabelMatcher[])[], start: number, end: number): Promise<readonly string[]>;
}

/** Lease state for the HA endpoints. */
export interface HaApi {
  clusters(): Promise<readonly Lease[]>;
  history(options: { readonly cluster?: string; readonly limit: number }): Promise<readonly LeaseChange[]>;
}

export interface HealthSource {
  /** Migrated, leases loaded, database answering. */
  ready(): boolean;
}

export interface AppDeps {
  readonly pipeline: WritePipeline;
  readonly reader: RemoteReader;
  readonly query: QueryApi;
  readonly ha: HaApi;
  readonly health: HealthSource;
  readonly metrics: IngestMetrics;
  /** Largest accepted body on the wire (413 above). */
  readonly maxBodyBytes: number;
  /** Bounds of the HTTP API's `match[]` selectors (400 above); default the flags' defaults. */
  readonly selectorLimits?: SelectorLimits | undefined;
  readonly auth?: Authenticator | undefined;
  /** The `/metrics` text when it is not this process's registry alone (worker processes: the primary's sum). */
  readonly exposition?: (() => Promise<string>) | undefined;
  /** Seconds sent in Retry-After with every 503; default 1. */
  readonly retryAfterSeconds?: number;
}

const WRITTEN_HEADERS = {
  samples: 'X-Prometheus-Remote-Write-Samples-Written',
  histograms: 'X-Prometheus-Remote-Write-Histograms-Written',
  exemplars: 'X-Prometheus-Remote-Write-Exemplars-Written',
} as const;

/** Maps any thrown value to the status it is answered with. */
export function statusOf(e: unknown): number {
  if (e instanceof IngestError) return e.status;
  // A storage error that reached a route unwrapped: by its registry's fault, as everywhere else.
  if (e instanceof StorageError) return fromStorage('', e).status;
  if (e instanceof Error) {
    // Codec errors and Fastify's own carry their 4xx status.
    const status = 'status' in e ? e.status : 'statusCode' in e ? e.statusCode : undefined;
    if (typeof status === 'number' && status >= 400 && status < 600 && status !== 429) return status;
  }
  return 500;
}

/** The ingest service's routes, hooks and error handling. Register with `app.register(ingestApp, deps)`. */
export async function ingestApp(app: FastifyInstance, deps: AppDeps): Promise<void> {
  const { metrics } = deps;
  const retryAfter = String(deps.retryAfterSeconds ?? 1);
  const selectorLimits = deps.selectorLimits ?? DEFAULT_SELECTOR_LIMITS;

  app.addHook('onRequest', async (request, reply) => {
    if (deps.auth === undefined || request.routeOptions.config.public === true) return;
    const verdict = await deps.auth.check(request.headers.authorization);
    if (verdict === 'busy') {
      reply.header('Retry-After', retryAfter).code(503);
      await reply.send('busy: too many password checks waiting, retry later\n');
    } else if (verdict === 'denied') {
      reply.header('WWW-Authenticate', 'Basic realm="promha", Bearer').code(401);
      await reply.send('unauthorized: missing or wrong credentials\n');
    }
  });

  app.addHook('onResponse', async (request, reply) => {
    const endpoint = request.routeOptions.url ?? 'unmatched';
    metrics.requests.inc({ endpoint, code: String(reply.statusCode) });
    metrics.requestDuration.observe({ endpoint }, reply.elapsedTime / 1000);
  });

  app.setErrorHandler(async (error: unknown, request, reply) => {
    const status = statusOf(error);
    const message = error instanceof Error ? error.message : String(error);
    // Shedding load is expected under overload: logging each shed request would add to the overload.
    const shed = error instanceof IngestError && error.code === 'PROMHA_INGEST_OVERLOADED';
    if (status >= 500 && !shed) {
      request.log.warn({ err: error, status }, 'request failed');
    } else {
      request.log.debug({ status, reason: message }, 'request rejected');
    }
    if (status === 503) reply.header('Retry-After', retryAfter);
    reply.code(status);
    if (request.routeOptions.config.jsonApi === true) {
      return { status: 'error', errorType: status >= 500 ? 'unavailable' : 'bad_data', error: message };
    }
    reply.type('text/plain; charset=utf-8');
    return `${message}\n`;
  });

  app.setNotFoundHandler(async (request, reply) => {
    reply.code(404).type('text/plain; charset=utf-8');
    return `no route for ${request.method} ${request.url}\n`;
  });

  await app.register((scope, _options, done) => {
    // Binary bodies of any content type enter as a Buffer; the codec decides whether the type is supported
    // (415) so that the message names the problem.
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: deps.maxBodyBytes }, (_req, body, done) => {
      done(null, body);
    });

    const write = async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
      const body = request.body;
      const result = await deps.pipeline.write(Buffer.isBuffer(body) ? body : Buffer.alloc(0), request.headers['content-type'], request.raw.socket);
      if (result.version === 2) {
        reply.header(WRITTEN_HEADERS.samples, String(result.written.samples));
        reply.header(WRITTEN_HEADERS.histograms, String(result.written.histograms));
        reply.header(WRITTEN_HEADERS.exemplars, String(result.written.exemplars));
      }
      await reply.code(result.kind === 'stored' ? 204 : 202).send();
    };
    const shed = (_request: FastifyRequest, _reply: FastifyReply, done: (err?: Error) => void): void => {
      // Backpressure before the body is read or decoded: the cheapest possible 503.
      done(
        deps.pipeline.overloaded()
          ? new IngestError('PROMHA_INGEST_OVERLOADED', 'overloaded: too many samples in flight, retry later')
          : undefined,
      );
    };
    scope.post('/write', { onRequest: shed }, write);
    scope.post('/api/v1/write', { onRequest: shed }, write);

    const read = async (request: FastifyRequest, reply: FastifyReply): Promise<Buffer> => {
      const body = request.body;
      const out = await deps.reader.read(Buffer.isBuffer(body) ? body : Buffer.alloc(0));
      reply.header('Content-Type', 'application/x-protobuf').header('Content-Encoding', 'snappy');
      return Buffer.from(out.buffer, out.byteOffset, out.byteLength);
    };
    scope.post('/read', read);
    scope.post('/api/v1/read', read);
    done();
  });

  await app.register((api, _options, done) => {
    // Every route of this scope is the Prometheus HTTP API: its errors are JSON (`{status: "error", ...}`).
    api.addHook('onRoute', (route) => {
      route.config = { ...route.config, jsonApi: true };
    });
    api.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string', bodyLimit: 1 << 20 }, (_req, body, done) => {
      done(null, Object.fromEntries(groupParams(new URLSearchParams(String(body)))));
    });

    const params = (request: FastifyRequest): Readonly<Record<string, string | string[] | undefined>> => ({
      ...(request.query as Record<string, string | string[]>),
      ...(typeof request.body === 'object' && request.body !== null ? (request.body as Record<string, string | string[]>) : {}),
    });
    const selectors = (p: Readonly<Record<string, string | string[] | undefined>>, required: boolean): LabelMatcher[][] => {
      const raw = p['match[]'];
      const list = raw === undefined ? [] : Array.isArray(raw) ? raw : [raw];
      if (required && list.length === 0) throw new IngestError('PROMHA_INGEST_BAD_REQUEST', 'no match[] parameter provided');
      return list.map((s) => parseSelector(s, selectorLimits));
    };
    const range = (p: Readonly<Record<string, string | string[] | undefined>>): [number, number] => {
      const start = parseTime(p['start'], 'start', 0);
      const end = parseTime(p['end'], 'end', Number.MAX_SAFE_INTEGER);
      if (end < start) throw new IngestError('PROMHA_INGEST_BAD_REQUEST', 'end timestamp must not be before start time');
      return [start, end];
    };

    const series = async (request: FastifyRequest): Promise<unknown> => {
      const p = params(request);
      const [start, end] = range(p);
      const limit = parseLimit(p['limit']);
      const found = await deps.query.series(selectors(p, true), start, end, limit);
      return { status: 'success', data: found.map((labels) => Object.fromEntries(labels.map((l) => [l.name, l.value]))) };
    };
    api.get('/api/v1/series', { schema: { querystring: SERIES_PARAMS } }, series);
    api.post('/api/v1/series', { schema: { querystring: SERIES_PARAMS, body: SERIES_PARAMS } }, series);

    const labels = async (request: FastifyRequest): Promise<unknown> => {
      const p = params(request);
      const [start, end] = range(p);
      return { status: 'success', data: await deps.query.labelNames(selectors(p, false), start, end) };
    };
    api.get('/api/v1/labels', { schema: { querystring: LABELS_PARAMS } }, labels);
    api.post('/api/v1/labels', { schema: { querystring: LABELS_PARAMS, body: LABELS_PARAMS } }, labels);

    api.get<{ Params: { name: string } }>('/api/v1/label/:name/values', { schema: { params: LABEL_NAME_PARAM, querystring: LABELS_PARAMS } }, async (request) => {
      const p = params(request);
      const [start, end] = range(p);
      const name = request.params.name;
      if (!/^[a-zA-Z_][a-zA-Z0-9_]*$/.test(name)) {
        throw new IngestError('PROMHA_INGEST_BAD_REQUEST', `invalid label name: ${JSON.stringify(name)}`);
      }
      return { status: 'success', data: await deps.query.labelValues(name, selectors(p, false), start, end) };
    });

    api.get('/api/v1/ha/clusters', { schema: { querystring: { type: 'object' } } }, async () => {
      const leases = await deps.ha.clusters();
      return { status: 'success', data: [...leases].sort((a, b) => (a.cluster < b.cluster ? -1 : a.cluster > b.cluster ? 1 : 0)) };
    });
    api.get('/api/v1/ha/history', { schema: { querystring: HISTORY_PARAMS } }, async (request) => {
      const p = params(request);
      const cluster = p['cluster'];
      if (Array.isArray(cluster)) throw new IngestError('PROMHA_INGEST_BAD_REQUEST', 'cluster may be given once');
      const limit = parseLimit(p['limit']) ?? 100;
      const changes = await deps.ha.history(cluster === undefined ? { limit } : { cluster, limit });
      return { status: 'success', data: changes };
    });
    done();
  });

  app.get('/metrics', async (_request, reply) => {
    const text = deps.exposition === undefined ? await metrics.registry.metrics() : await deps.exposition();
    reply.type(metrics.registry.contentType);
    return text;
  });
  // Probes answer without credentials: marked by route config, so no URL string decides who is public.
  app.get('/healthz', { config: { public: true } }, (_request, reply) => reply.send('ok\n'));
  app.get('/ready', { config: { public: true } }, async (_request, reply) => {
    const ready = deps.health.ready();
    metrics.ready.set(ready ? 1 : 0);
    if (!ready) reply.code(503).header('Retry-After', retryAfter);
    return ready ? 'ready\n' : 'not ready\n';
  });
}

/*
 * Parameter schemas of the HTTP API (Fastify validates them before the handler; a mismatch is 400 `bad_data`, as
 * Prometheus answers). Fastify's Ajv coerces a single value into an array, so `match[]` may be given once or more;
 * `start`, `end`, `limit` and `cluster` at most once. Values are parsed further by the handlers (times, selectors).
 */
const TIME = { type: 'string', maxLength: 64 } as const;
const LIMIT = { type: 'string', pattern: '^[0-9]{1,12}$' } as const;
const MATCH = { type: 'array', items: { type: 'string' }, maxItems: 1000 } as const;
const SERIES_PARAMS = {
  type: 'object',
  properties: { 'match[]': MATCH, start: TIME, end: TIME, limit: LIMIT },
  additionalProperties: false,
} as const;
const LABELS_PARAMS = { type: 'object', properties: { 'match[]': MATCH, start: TIME, end: TIME, limit: LIMIT }, additionalProperties: false } as const;
const LABEL_NAME_PARAM = {
  type: 'object',
  properties: { name: { type: 'string', pattern: '^[a-zA-Z_][a-zA-Z0-9_]*$', maxLength: 1024 } },
  required: ['name'],
} as const;
const HISTORY_PARAMS = {
  type: 'object',
  properties: { cluster: { type: 'string', maxLength: 4096 }, limit: LIMIT },
  additionalProperties: false,
} as const;

function groupParams(p: URLSearchParams): Map<string, string | string[]> {
  const out = new Map<string, string | string[]>();
  for (const [k, v] of p) {
    const prev = out.get(k);
    out.set(k, prev === undefined ? v : Array.isArray(prev) ? [...prev, v] : [prev, v]);
  }
  return out;
}

/** Prometheus API time: Unix seconds (float) or RFC 3339; returns ms. */
export function parseTime(raw: string | string[] | undefined, what: string, fallback: number): number {
  if (raw === undefined || raw === '') return fallback;
  if (Array.isArray(raw)) throw new IngestError('PROMHA_INGEST_BAD_REQUEST', `${what} may be given once`);
  if (/^-?\d+(\.\d+)?$/.test(raw)) return Math.round(Number(raw) * 1000);
  const ms = /^\d{4}-\d\d-\d\dT/.test(raw) ? Date.parse(raw) : NaN;
  if (Number.isNaN(ms)) {
    throw new IngestError('PROMHA_INGEST_BAD_REQUEST', `invalid ${what} ${JSON.stringify(raw)}: want Unix seconds or RFC 3339`);
  }
  return ms;
}

function parseLimit(raw: string | string[] | undefined): number | undefined {
  if (raw === undefined || raw === '' || raw === '0') return undefined;
  if (Array.isArray(raw) || !/^\d+$/.test(raw)) {
    throw new IngestError('PROMHA_INGEST_BAD_REQUEST', `invalid limit ${JSON.stringify(raw)}`);
  }
  return Math.min(Number(raw), 100_000);
}

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Answered without credentials when authentication is configured (the probes). */
    public?: boolean;
    /** A route of the Prometheus HTTP API: errors are answered as its JSON (`{status: "error", errorType, error}`). */
    jsonApi?: boolean;
  }
}
