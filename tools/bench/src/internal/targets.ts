/**
 * The two systems under load, each a child process of the benchmark so their CPU can be read from /proc:
 * promha's ingest service (apps/ingest/src/main.ts, as `npm start` runs it) and Debian's victoria-metrics.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { get, request, type Agent } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '@promha/storage/testing';
import pg from 'pg';
import { parentOf } from './procs.js';
import { startScriptNodeFlags } from './start-flags.js';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../../../..');

export const VICTORIA_METRICS_BIN = '/usr/bin/victoria-metrics';

export interface Target {
  readonly name: string;
  readonly pid: number;
  readonly port: number;
  /** Path that takes remote-write 1.0 bodies. */
  readonly writePath: string;
  /** Date.now() when the process was spawned (a CPU profile's clock starts about then). */
  readonly spawnedAt: number;
  /** Plain-text Prometheus metrics of the target. */
  metrics(): Promise<string>;
  stop(): Promise<void>;
}

/** Posts one snappy-compressed remote-write 1.0 body; the reason is the body of an answer of 300 or more. */
export function postWrite(agent: Agent, target: Target, body: Buffer): Promise<{ status: number; reason: string }> {
  return new Promise((ok, fail) => {
    const req = request(
      {
        agent,
        host: '127.0.0.1',
        port: target.port,
        method: 'POST',
        path: target.writePath,
        headers: {
          'content-type': 'application/x-protobuf',
          'content-encoding': 'snappy',
          'x-prometheus-remote-write-version': '0.1.0',
          'content-length': body.length,
        },
      },
      (res) => {
        const status = res.statusCode ?? 0;
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => {
          if (status >= 300) chunks.push(c);
        });
        res.on('end', () => ok({ status, reason: Buffer.concat(chunks).toString('utf8').trim() }));
      },
    );
    req.on('error', fail);
    req.end(body);
  });
}

/** The sum of every sample of `name` in a text exposition whose labels contain `labels`. */
export function sumOfMetric(text: string, name: string, labels = ''): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const rest = line.slice(name.length);
    if (!(rest.startsWith(' ') || rest.startsWith('{'))) continue;
    if (labels !== '' && !rest.includes(labels)) continue;
    sum += Number(rest.slice(rest.lastIndexOf(' ') + 1));
  }
  return sum;
}

export function httpGet(port: number, path: string): Promise<{ status: number; body: string }> {
  return new Promise((ok, fail) => {
    const req = get({ host: '127.0.0.1', port, path, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => ok({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', fail);
  });
}

async function waitFor(what: string, child: ChildProcess, port: number, path: string, log: () => string): Promise<void> {
  const deadline = Date.now() + 90_000;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`${what} exited (${child.exitCode ?? child.signalCode}) before it was ready:\n${log()}`);
    }
    const r = await httpGet(port, path).catch(() => undefined);
    if (r?.status === 200) return;
    if (Date.now() > deadline) throw new Error(`${what} not ready after 90 s:\n${log()}`);
    await new Promise((ok) => setTimeout(ok, 200));
  }
}

function stopChild(child: ChildProcess, graceMs: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((ok) => {
    const kill = setTimeout(() => child.kill('SIGKILL'), graceMs);
    child.once('exit', () => {
      clearTimeout(kill);
      ok();
    });
    child.kill('SIGTERM');
  });
}

function tail(lines: string[]): (chunk: Buffer) => void {
  return (chunk) => {
    lines.push(chunk.toString('utf8'));
    if (lines.length > 50) lines.shift();
  };
}

export interface PromhaOptions {
  /** The database; undefined: `npm start`'s embedded PostgreSQL, in a fresh directory removed at stop. */
  readonly dbUri: string | undefined;
  readonly extraArgs?: readonly string[];
  /** When set, the child runs with `--cpu-prof` and writes its profile into this directory on exit. */
  readonly cpuProfileDir?: string | undefined;
  /** Extra Node/V8 flags for the child (e.g. `--max-semi-space-size=64`). */
  readonly nodeFlags?: readonly string[];
}

/** Starts the ingest service as a child process (HA on unless `extraArgs` say otherwise) and waits for /ready. */
export async function startPromha(options: PromhaOptions): Promise<Target> {
  const port = await freePort();
  const nodeArgs = [...startScriptNodeFlags(), '--conditions=@promha/source', '--import', 'tsx', ...(options.nodeFlags ?? [])];
  if (options.cpuProfileDir !== undefined) nodeArgs.push('--cpu-prof', `--cpu-prof-dir=${options.cpuProfileDir}`);
  let embeddedDir: string | undefined;
  if (options.dbUri === undefined) {
    embeddedDir = await mkdtemp(join(tmpdir(), 'promha-bench-pg-'));
    // As root, the embedded server runs as the `postgres` user, which must be able to create its data directory.
    await chmod(embeddedDir, 0o777);
  }
  const args = [
    ...nodeArgs,
    join(REPO, 'apps/ingest/src/main.ts'),
    options.dbUri === undefined ? `--db.embedded-dir=${join(embeddedDir!, 'pg')}` : `--db.uri=${options.dbUri}`,
    `--web.listen-address=127.0.0.1:${port}`,
    '--log.level=warn',
    ...(options.extraArgs ?? []),
  ];
  const log: string[] = [];
  const spawnedAt = Date.now();
  const child = spawn(process.execPath, args, { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout.on('data', tail(log));
  child.stderr.on('data', tail(log));
  const cleanup = async (graceMs: number): Promise<void> => {
    await stopChild(child, graceMs);
    if (embeddedDir !== undefined) await rm(embeddedDir, { recursive: true, force: true });
  };
  await waitFor('promha', child, port, '/ready', () => log.join('')).catch(async (e: unknown) => {
    await cleanup(5_000);
    throw e;
  });
  return {
    name: 'promha',
    pid: child.pid ?? 0,
    port,
    spawnedAt,
    writePath: '/api/v1/write',
    metrics: async () => (await httpGet(port, '/metrics')).body,
    stop: () => cleanup(30_000),
  };
}

/** Why victoria-metrics cannot run here, or undefined when it can. */
export function victoriaMetricsMissing(): string | undefined {
  return existsSync(VICTORIA_METRICS_BIN) ? undefined : `${VICTORIA_METRICS_BIN} not found (Debian package victoria-metrics)`;
}

/**
 * Starts victoria-metrics on loopback with a fresh data directory. HA-pair deduplication as its users set it
 * up for one node: the replica label is dropped on ingestion (`-relabelConfig`), so both replicas write the same
 * series, and `-dedup.minScrapeInterval=1ms` keeps one sample per series and timestamp.
 */
export async function startVictoriaMetrics(replicaLabel: string): Promise<Target> {
  const port = await freePort();
  const dir = await mkdtemp(join(tmpdir(), 'promha-bench-vm-'));
  const relabel = join(dir, 'relabel.yml');
  await writeFile(relabel, `- action: labeldrop\n  regex: ${replicaLabel}\n`);
  const log: string[] = [];
  const spawnedAt = Date.now();
  const child = spawn(
    VICTORIA_METRICS_BIN,
    [
      `-httpListenAddr=127.0.0.1:${port}`,
      `-storageDataPath=${join(dir, 'data')}`,
      `-relabelConfig=${relabel}`,
      '-dedup.minScrapeInterval=1ms',
      '-retentionPeriod=1y',
      '-loggerLevel=WARN',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  child.stdout.on('data', tail(log));
  child.stderr.on('data', tail(log));
  const cleanup = async (): Promise<void> => {
    await stopChild(child, 15_000);
    await rm(dir, { recursive: true, force: true });
  };
  await waitFor('victoria-metrics', child, port, '/health', () => log.join('')).catch(async (e: unknown) => {
    await cleanup();
    throw e;
  });
  return {
    name: 'victoria-metrics',
    pid: child.pid ?? 0,
    port,
    spawnedAt,
    writePath: '/api/v1/write',
    metrics: async () => (await httpGet(port, '/metrics')).body,
    stop: cleanup,
  };
}

/** The postmaster of the PostgreSQL server at `uri` (a local one): the parent of a backend of ours. */
export async function postmasterPid(uri: string): Promise<number | undefined> {
  const client = new pg.Client({ connectionString: uri });
  await client.connect();
  try {
    const r = await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
    const backend = r.rows[0]?.pid;
    return backend === undefined ? undefined : parentOf(backend);
  } finally {
    await client.end();
  }
}
