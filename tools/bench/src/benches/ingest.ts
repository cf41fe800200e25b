/**
 * The ingest service end to end: remote-write requests over real HTTP (keep-alive, 4 in flight) into a service
 * on PostgreSQL, with HA on (one leader replica) against HA off and against the storage writer alone (same
 * series, no HTTP, no decode); and the cost of a deduplicated (non-leader) request against a stored one.
 *
 * Every request carries new data time so no measurement hits the idempotent-resend path. Candidates alternate
 * in rounds of fixed work; the median round counts.
 */
import { Agent, request } from 'node:http';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { AddressInfo } from 'node:net';
import type { TimeSeries } from '@promha/codec';
import { realLibraries, resolveConfig, startService, type RunningService } from '@promha/ingest';
import { series, writeBody, writeContentType } from '@promha/ingest/testing';
import { openStorage } from '@promha/storage';
import { startTestDatabase } from '@promha/storage/testing';
import { measurement, median, type Bench, type Measurement } from '../harness.js';
import { processCpu, treeCpu } from '../internal/procs.js';
import { postmasterPid, postWrite, startPromha } from '../internal/targets.js';

const SERIES = 1000;
const SAMPLES_PER_SERIES = 2;
const PER_REQUEST = SERIES * SAMPLES_PER_SERIES;
const CONCURRENCY = 4;
const REQUESTS_PER_ROUND = 40;
const ROUNDS = 6;
const STEP_MS = Number(process.env["PROMHA_BENCH_STEP_MS"] ?? 15_000);

/** The series of request `i` of a replica: data time advances by STEP_MS per request. */
function requestSeries(i: number, base: number, cluster: string, replica: string | undefined): TimeSeries[] {
  const out: TimeSeries[] = [];
  for (let s = 0; s < SERIES; s++) {
    const labels: Record<string, string> = {
      cluster,
      instance: `host-${s % 100}:9100`,
      job: 'node',
      mode: ['user', 'system', 'idle', 'iowait'][s % 4]!,
      cpu: String(s % 16),
      region: 'eu-west-1',
    };
    if (replica !== undefined) labels['__replica__'] = replica;
    const t0 = base + i * STEP_MS;
    out.push(series(`bench_metric_${s % 50}`, labels, Array.from({ length: SAMPLES_PER_SERIES }, (_, k) => [t0 + k * 1000, i + s] as const)));
  }
  return out;
}

function post(agent: Agent, port: number, body: Buffer): Promise<number> {
  return new Promise((ok, fail) => {
    const req = request(
      { agent, host: '127.0.0.1', port, method: 'POST', path: '/api/v1/write', headers: { 'content-type': writeContentType(1), 'content-encoding': 'snappy', 'content-length': body.length } },
      (res) => {
        res.resume();
        res.on('end', () => ok(res.statusCode ?? 0));
      },
    );
    req.on('error', fail);
    req.end(body);
  });
}

/** Runs `count` jobs with `CONCURRENCY` in flight; returns elapsed seconds. */
async function timed(count: number, job: (k: number) => Promise<void>): Promise<number> {
  const t0 = process.hrtime.bigint();
  let next = 0;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < count) await job(next++);
    }),
  );
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

async function listen(uri: string, argv: readonly string[]): Promise<{ service: RunningService; port: number }> {
  const r = resolveConfig([`--db.uri=${uri}`, '--log.level=silent', ...argv], {});
  if (r.kind !== 'run') throw new Error('unexpected --help');
  const service = await startService(r.config, realLibraries(), { loops: false });
  await service.started();
  await service.app.listen({ host: '127.0.0.1', port: 0 });
  return { service, port: (service.app.server.address() as AddressInfo).port };
}

async function* run(): AsyncIterable<Measurement> {
  const db = await startTestDatabase();
  const agent = new Agent({ keepAlive: true, maxSockets: CONCURRENCY });
  // The other replica's own connection, as each Prometheus keeps its own: a connection that carried the leader's data
  // is decoded at once, not peeked (pipeline.ts), so one shared by both replicas would decode the 202s too.
  const otherAgent = new Agent({ keepAlive: true, maxSockets: 1 });
  const haOn = await listen(await db.createDatabase(), []);
  const haOff = await listen(await db.createDatabase(), ['--metrics.high-availability=false']);
  const storage = await openStorage({ uri: await db.createDatabase(), maxConnections: 10 });
  try {
    await storage.migrate();
    const base = Date.now() - 6 * 3_600_000;
    const on: number[] = [];
    const off: number[] = [];
    const alone: number[] = [];
    for (let r = 0; r <= ROUNDS; r++) {
      // Each round's requests are built before it is timed: the client's encoding is not the server's cost.
      const ids = Array.from({ length: REQUESTS_PER_ROUND }, (_, k) => r * REQUESTS_PER_ROUND + k);
      const onBodies = ids.map((i) => writeBody(requestSeries(i, base, 'bench', 'r1')));
      const offBodies = ids.map((i) => writeBody(requestSeries(i, base, 'bench', 'r1')));
      const direct = ids.map((i) => requestSeries(i, base, 'bench-direct', undefined));
      const jobs: (() => Promise<number>)[] = [
        () =>
          timed(REQUESTS_PER_ROUND, async (k) => {
            const status = await post(agent, haOn.port, onBodies[k]!);
            if (status !== 204) throw new Error(`HA on answered ${status}`);
          }),
        () =>
          timed(REQUESTS_PER_ROUND, async (k) => {
            const status = await post(agent, haOff.port, offBodies[k]!);
            if (status !== 204) throw new Error(`HA off answered ${status}`);
          }),
        () =>
          timed(REQUESTS_PER_ROUND, async (k) => {
            await storage.write({ series: direct[k]!, idempotencyKey: `bench-${ids[k]}` });
          }),
      ];
      // Rotate the order every round so no candidate always runs first (after the others' autovacuum, etc.).
      const seconds: number[] = [0, 0, 0];
      for (let j = 0; j < jobs.length; j++) {
        const which = (j + r) % jobs.length;
        seconds[which] = await jobs[which]!();
      }
      const [a, b, c] = seconds as [number, number, number];
      if (r === 0) continue; // warm-up
      on.push((REQUESTS_PER_ROUND * PER_REQUEST) / a);
      off.push((REQUESTS_PER_ROUND * PER_REQUEST) / b);
      alone.push((REQUESTS_PER_ROUND * PER_REQUEST) / c);
    }
    yield measurement('ingest.http.ha-on', 'samples/s', median(on), 'ingest.http.ha-off', median(off));
    yield measurement('ingest.http.ha-on', 'samples/s', median(on), 'storage.write alone', median(alone));
    yield measurement('ingest.http.ha-off', 'samples/s', median(off), 'storage.write alone', median(alone));

    // Dedupe cost: one request at a time, leader (stored) and non-leader (deduplicated) alternating, same shape.
    // The bodies are encoded before any is timed, as in the rounds above: the client's encoding (and the garbage
    // it leaves for a collection inside a timed request) is not the server's cost.
    const leader: number[] = [];
    const follower: number[] = [];
    const base2 = base + (ROUNDS + 2) * REQUESTS_PER_ROUND * STEP_MS;
    const PAIRS = 160;
    const pairs = Array.from({ length: PAIRS }, (_, i) => [writeBody(requestSeries(i, base2, 'bench', 'r1')), writeBody(requestSeries(i, base2, 'bench', 'r2'))] as const);
    for (let i = 0; i < PAIRS; i++) {
      const [stored, dedupe] = pairs[i]!;
      let t0 = process.hrtime.bigint();
      const s1 = await post(agent, haOn.port, stored);
      const storedMs = Number(process.hrtime.bigint() - t0) / 1e6;
      t0 = process.hrtime.bigint();
      const s2 = await post(otherAgent, haOn.port, dedupe);
      const dedupeMs = Number(process.hrtime.bigint() - t0) / 1e6;
      if (s1 !== 204 || s2 !== 202) throw new Error(`expected 204/202, got ${s1}/${s2}`);
      if (i >= 20) {
        leader.push(storedMs);
        follower.push(dedupeMs);
      }
    }
    yield measurement('ingest.request.deduplicated', 'ms', median(follower), 'ingest.request.stored', median(leader));
  } finally {
    agent.destroy();
    otherAgent.destroy();
    await haOn.service.close();
    await haOff.service.close();
    await storage.close();
    await db.stop();
  }
}

/**
 * What a deduplicated request costs against a stored one, in CPU, and what the native snappy decoder saves of
 * each (the same measurement with `--web.native-snappy=false`): the ingest as a child process (`--workers=1`,
 * HA on, its own PostgreSQL), so that the client's work is not counted. Per round, 40 leader requests of new data
 * time (4 in flight; the ingest process plus the PostgreSQL server), then the other replica's 40 requests of the same
 * data time, each sent 5 times (the ingest process; they never reach the database). The time a latency figure
 * includes for a process waking from idle is not in this one.
 */
async function* runCpuCost(): AsyncIterable<Measurement> {
  const native = await cpuCost([]);
  const builtIn = await cpuCost(['--web.native-snappy=false']);
  yield measurement('ingest.request.deduplicated.cpu', 'cpu-ms', native.deduplicated, 'ingest.request.stored.cpu', native.stored);
  yield measurement('ingest.request.deduplicated.cpu', 'cpu-ms', native.deduplicated, 'the same, built-in snappy decoder', builtIn.deduplicated);
  yield measurement('ingest.request.stored.cpu', 'cpu-ms', native.stored, 'the same, built-in snappy decoder', builtIn.stored);
}

/** Median CPU milliseconds per stored and per deduplicated request of one ingest process started with `args`. */
async function cpuCost(args: readonly string[]): Promise<{ stored: number; deduplicated: number }> {
  const db = await startTestDatabase();
  // One agent per replica: a Prometheus' connections carry only its own data (see the latency pairs above).
  const agents = { 204: new Agent({ keepAlive: true, maxSockets: CONCURRENCY }), 202: new Agent({ keepAlive: true, maxSockets: CONCURRENCY }) };
  const dbUri = await db.createDatabase();
  const postmaster = db.source === 'embedded' ? await postmasterPid(db.uri) : undefined;
  const target = await startPromha({ dbUri, extraArgs: ['--workers=1', ...args], cpuProfileDir: process.env['PROMHA_BENCH_PROFILE'] });
  const ROUNDS_CPU = 6;
  const REPEATS = 5;
  const cpu = (): number => processCpu(target.pid) + (postmaster === undefined ? 0 : treeCpu(postmaster).seconds);
  /** CPU seconds of the ingest process and the PostgreSQL server while `f` runs. */
  const cpuDuring = async (f: () => Promise<unknown>): Promise<number> => {
    const before = cpu();
    await f();
    return cpu() - before;
  };
  const send = (bodies: readonly Buffer[], want: 202 | 204): Promise<number> =>
    timed(bodies.length, async (k) => {
      const { status, reason } = await postWrite(agents[want], target, bodies[k]!);
      if (status !== want) throw new Error(`expected ${want}, got ${status} ${reason}`);
    });
  try {
    const base = Date.now() - 6 * 3_600_000;
    const stored: number[] = [];
    const deduplicated: number[] = [];
    for (let r = 0; r <= ROUNDS_CPU; r++) {
      const ids = Array.from({ length: REQUESTS_PER_ROUND }, (_, k) => r * REQUESTS_PER_ROUND + k);
      const leader = ids.map((i) => writeBody(requestSeries(i, base, 'bench', 'r1')));
      const other = ids.map((i) => writeBody(requestSeries(i, base, 'bench', 'r2')));
      const repeated = Array.from({ length: REPEATS }, () => other).flat();
      const storedCpu = await cpuDuring(() => send(leader, 204));
      const dedupCpu = await cpuDuring(() => send(repeated, 202));
      if (r === 0) continue; // warm-up (and the first leader's election)
      stored.push((storedCpu * 1000) / leader.length);
      deduplicated.push((dedupCpu * 1000) / repeated.length);
    }
    return { stored: median(stored), deduplicated: median(deduplicated) };
  } finally {
    agents[202].destroy();
    agents[204].destroy();
    await target.stop();
    await db.stop();
  }
}

/** A request as Prometheus 2.42 sends it: 500 series of 10 labels (HA labels included), one sample each. */
function prometheusRequest(i: number, base: number, replica: string): Buffer {
  const out: TimeSeries[] = [];
  for (let s = 0; s < 500; s++) {
    const n = (i * 500 + s) % 20_000;
    const labels: Record<string, string> = {
      cluster: 'bench',
      __replica__: replica,
      instance: `host-${n % 200}.example.internal:9100`,
      job: 'node',
      mode: ['user', 'system', 'idle', 'iowait'][n % 4]!,
      cpu: String(n % 32),
      region: 'eu-west-1',
      env: 'production',
    };
    // Data time stays inside the buffer's window (lease timeout + 2 refreshes): nothing ages out while measured.
    out.push(series(`node_cpu_seconds_total_${n % 25}`, labels, [[base + (i % 30) * 1000, i * 0.5 + s] as const]));
  }
  return writeBody(out);
}

/**
 * The standby buffer (docs/decisions/0007-splice-point.md): memory per buffered sample (what the buffer counts, and the
 * process's heap plus array buffers, after a forced GC), and what a non-leader request costs with the buffer and
 * without it (`--ha.standby-buffer-bytes=0`), alternating, same shape, same run.
 */
async function* runStandby(): AsyncIterable<Measurement> {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  const db = await startTestDatabase();
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const uri = await db.createDatabase();
  const buffered = await listen(uri, []);
  const unbuffered = await listen(await db.createDatabase(), ['--ha.standby-buffer-bytes=0']);
  try {
    const base = Date.now() - 3_600_000;
    for (const t of [buffered, unbuffered]) {
      if ((await post(agent, t.port, prometheusRequest(0, base, 'r1'))) !== 204) throw new Error('leader not stored');
    }
    const REQUESTS = 2_000;
    const bodies = Array.from({ length: REQUESTS }, (_, i) => prometheusRequest(i, base, 'r2'));
    const wire = bodies.reduce((a, b) => a + b.length, 0);
    gc();
    const before = process.memoryUsage();
    const withMs: number[] = [];
    const withoutMs: number[] = [];
    for (let i = 0; i < REQUESTS; i++) {
      for (const [t, out] of i % 2 === 0 ? ([[buffered, withMs], [unbuffered, withoutMs]] as const) : ([[unbuffered, withoutMs], [buffered, withMs]] as const)) {
        const t0 = process.hrtime.bigint();
        const status = await post(agent, t.port, bodies[i]!);
        out.push(Number(process.hrtime.bigint() - t0) / 1e6);
        if (status !== 202) throw new Error(`expected 202, got ${status}`);
      }
    }
    gc();
    const after = process.memoryUsage();
    // The client's bodies stay referenced until here, so the difference is what the service kept.
    if (bodies.length !== REQUESTS) throw new Error('bodies lost');
    const samples = (await buffered.service.metrics.haStandbySamples.get()).values[0]?.value ?? 0;
    const counted = (await buffered.service.metrics.haStandbyBytes.get()).values[0]?.value ?? 0;
    if (samples !== REQUESTS * 500) throw new Error(`buffer holds ${samples} samples, expected ${REQUESTS * 500}`);
    const held = after.heapUsed + after.arrayBuffers - (before.heapUsed + before.arrayBuffers);
    yield measurement('standby.bytes-per-sample.counted', 'bytes', counted / samples, 'wire bytes per sample', wire / samples / 1);
    yield measurement('standby.bytes-per-sample.heap', 'bytes', held / samples, 'counted', counted / samples);
    yield measurement('ingest.request.deduplicated.buffered', 'ms', median(withMs.slice(100)), 'ingest.request.deduplicated.unbuffered', median(withoutMs.slice(100)));
  } finally {
    agent.destroy();
    await buffered.service.close();
    await unbuffered.service.close();
    await db.stop();
  }
}

export const benches: readonly Bench[] = [
  { name: 'ingest', run },
  { name: 'ingest-cpu', run: runCpuCost },
  { name: 'standby', run: runStandby },
];
