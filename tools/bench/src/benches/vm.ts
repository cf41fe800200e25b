/**
 * `npm run bench -- vm`: promha (HA on, PostgreSQL on this machine) against VictoriaMetrics single-node, fed the
 * same load in the same run (see ../internal/load.ts: 4 clusters x 2 replicas x 2 shards, 500-2,000 samples per
 * request, 10 labels per series, pre-encoded remote-write 1.0 bodies). Rounds alternate between the two systems
 * (the order flips every round) so machine noise hits both.
 *
 * What is counted, the same way on both sides:
 * - samples/s = samples of ONE replica's stream acknowledged with 2xx, per second of the round's wall time (from
 *   the first request sent to the last answer). Both replicas send; promha stores the leader's stream and answers
 *   the other 202, VictoriaMetrics (replica label dropped by relabeling, -dedup.minScrapeInterval=1ms) stores
 *   the same samples once. Offered samples (both replicas) are exactly twice this.
 * - CPU s per million samples = CPU seconds (utime + stime from /proc) of the system's processes during the
 *   round, divided by the same sample count. promha: the ingest Node process plus the PostgreSQL server (the
 *   postmaster, its live children - backends, walwriter, checkpointer, autovacuum - and what the postmaster
 *   reaped). VictoriaMetrics: its one process. The sender (this process) is reported apart and counted for neither.
 *
 * Without /usr/bin/victoria-metrics the bench says it skipped it, and still reports promha's figures.
 *
 * Environment: PROMHA_BENCH_VM_ROUNDS (measured rounds, default 5), PROMHA_BENCH_VM_REQUESTS (requests per
 * sender per round, default 12), PROMHA_BENCH_PROFILE=<dir> (promha runs with --cpu-prof, profile written there
 * on exit; summarise with tools/bench/src/profile-summary.ts), PROMHA_BENCH_PG_FAST=1 (throwaway PostgreSQL
 * settings: fsync off; default is PostgreSQL's defaults).
 */
import { Agent, request } from 'node:http';
import { startTestDatabase } from '@promha/storage/testing';
import pg from 'pg';
import { measurement, median, type Bench, type Measurement } from '../harness.js';
import { DEFAULT_SHAPE, Load, type Round } from '../internal/load.js';
import { parentOf, processCpu, treeCpu } from '../internal/procs.js';
import { startPromha, startVictoriaMetrics, victoriaMetricsMissing, type Target } from '../internal/targets.js';

const ROUNDS = Number(process.env['PROMHA_BENCH_VM_ROUNDS'] ?? 5);
const REQUESTS = Number(process.env['PROMHA_BENCH_VM_REQUESTS'] ?? 12);
const PROFILE_DIR = process.env['PROMHA_BENCH_PROFILE'];
const PG_FAST = process.env['PROMHA_BENCH_PG_FAST'] === '1';
const CONTENT_TYPE = 'application/x-protobuf';

interface RoundResult {
  readonly seconds: number;
  /** 2xx answers by status. */
  readonly statuses: ReadonlyMap<number, number>;
  readonly failed: number;
  /** CPU seconds of the system under test, by part. */
  readonly cpu: Readonly<Record<string, number>>;
  readonly senderCpu: number;
}

function post(agent: Agent, target: Target, body: Buffer): Promise<number> {
  return new Promise((ok, fail) => {
    const req = request(
      {
        agent,
        host: '127.0.0.1',
        port: target.port,
        method: 'POST',
        path: target.writePath,
        headers: {
          'content-type': CONTENT_TYPE,
          'content-encoding': 'snappy',
          'x-prometheus-remote-write-version': '0.1.0',
          'content-length': body.length,
        },
      },
      (res) => {
        res.resume();
        res.on('end', () => ok(res.statusCode ?? 0));
      },
    );
    req.on('error', fail);
    req.end(body);
  });
}

type CpuProbe = () => Record<string, number>;

/** Sends every sender's bodies (each sender one request at a time, all senders concurrently). */
async function sendRound(agent: Agent, target: Target, round: Round, probe: CpuProbe): Promise<RoundResult> {
  const statuses = new Map<number, number>();
  let failed = 0;
  const cpu0 = probe();
  const self0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  await Promise.all(
    round.senders.map(async (sender) => {
      for (const body of sender.bodies) {
        const status = await post(agent, target, body);
        statuses.set(status, (statuses.get(status) ?? 0) + 1);
        if (status < 200 || status > 299) failed++;
      }
    }),
  );
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const self = process.cpuUsage(self0);
  const cpu1 = probe();
  const cpu: Record<string, number> = {};
  for (const k of Object.keys(cpu1)) cpu[k] = (cpu1[k] ?? 0) - (cpu0[k] ?? 0);
  return { seconds, statuses, failed, cpu, senderCpu: (self.user + self.system) / 1e6 };
}

function total(cpu: Readonly<Record<string, number>>): number {
  return Object.values(cpu).reduce((a, b) => a + b, 0);
}

function fmtStatuses(m: ReadonlyMap<number, number>): string {
  return [...m.entries()].sort(([a], [b]) => a - b).map(([s, n]) => `${s}x${n}`).join(' ');
}

function metricValue(text: string, name: string, labels = ''): number {
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

async function postmasterPid(uri: string): Promise<number | undefined> {
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

function say(line: string): void {
  process.stderr.write(`  ${line}\n`);
}

async function* run(): AsyncIterable<Measurement> {
  const missing = victoriaMetricsMissing();
  const db = await startTestDatabase({ fast: PG_FAST });
  const agents: Agent[] = [];
  const targets: Target[] = [];
  try {
    const dbUri = await db.createDatabase();
    const postmaster = db.source === 'embedded' ? await postmasterPid(db.uri) : undefined;
    const promha = await startPromha({ dbUri, cpuProfileDir: PROFILE_DIR });
    targets.push(promha);
    const vm = missing === undefined ? await startVictoriaMetrics('__replica__') : undefined;
    if (vm !== undefined) targets.push(vm);
    else say(`victoria-metrics skipped: ${missing}`);
    say(
      `PostgreSQL: ${db.source}${PG_FAST ? ' (fsync off)' : ' (default settings)'}; CPU counted: ` +
        (postmaster !== undefined ? `postmaster ${postmaster} and its descendants` : 'not counted (server not local)'),
    );

    const promhaProbe: CpuProbe = () => {
      const pgCpu = postmaster !== undefined ? treeCpu(postmaster).seconds : 0;
      return { node: processCpu(promha.pid), postgres: pgCpu };
    };
    const vmProbe: CpuProbe = () => ({ vm: vm !== undefined ? processCpu(vm.pid) : 0 });

    const shape = DEFAULT_SHAPE;
    const senders = shape.clusters * shape.replicas * shape.shards;
    const promhaAgent = new Agent({ keepAlive: true, maxSockets: senders });
    const vmAgent = new Agent({ keepAlive: true, maxSockets: senders });
    agents.push(promhaAgent, vmAgent);
    // Data time an hour back, inside both systems' retention and far from "the future".
    const load = new Load(shape, Date.now() - 3_600_000);
    say(
      `load: ${shape.clusters} clusters x ${shape.replicas} replicas x ${shape.shards} shards = ${senders} senders, ` +
        `${REQUESTS} requests each per round, ${shape.minSamplesPerRequest}-${shape.maxSamplesPerRequest} samples/request, 10 labels/series`,
    );

    const rows: { p: RoundResult; v: RoundResult | undefined; unique: number }[] = [];
    for (let r = 0; r <= ROUNDS; r++) {
      const round = load.round(REQUESTS);
      let p: RoundResult;
      let v: RoundResult | undefined;
      if (r % 2 === 0 || vm === undefined) {
        p = await sendRound(promhaAgent, promha, round, promhaProbe);
        if (vm !== undefined) v = await sendRound(vmAgent, vm, round, vmProbe);
      } else {
        v = await sendRound(vmAgent, vm, round, vmProbe);
        p = await sendRound(promhaAgent, promha, round, promhaProbe);
      }
      const u = round.uniqueSamples;
      const line =
        `round ${r}${r === 0 ? ' (warm-up)' : ''}: ${u} samples/replica, ${round.requests} requests; ` +
        `promha ${Math.round(u / p.seconds)} samples/s [${fmtStatuses(p.statuses)}] cpu node ${p.cpu['node']?.toFixed(2)} s pg ${p.cpu['postgres']?.toFixed(2)} s sender ${p.senderCpu.toFixed(2)} s` +
        (v !== undefined
          ? `; vm ${Math.round(u / v.seconds)} samples/s [${fmtStatuses(v.statuses)}] cpu ${v.cpu['vm']?.toFixed(2)} s sender ${v.senderCpu.toFixed(2)} s`
          : '');
      say(line);
      if (p.failed > 0 || (v?.failed ?? 0) > 0) throw new Error(`non-2xx answers in round ${r}: ${line}`);
      if (r > 0) rows.push({ p, v, unique: u });
    }

    const pRate = median(rows.map((x) => x.unique / x.p.seconds));
    const pCpu = median(rows.map((x) => (total(x.p.cpu) / x.unique) * 1e6));
    const pNode = median(rows.map((x) => ((x.p.cpu['node'] ?? 0) / x.unique) * 1e6));
    const pPg = median(rows.map((x) => ((x.p.cpu['postgres'] ?? 0) / x.unique) * 1e6));
    const sender = median(rows.map((x) => (x.p.senderCpu / x.unique) * 1e6));

    const pm = await promha.metrics();
    say(
      `promha counters: stored ${metricValue(pm, 'promha_samples_total', 'outcome="stored"')}, ` +
        `deduplicated ${metricValue(pm, 'promha_samples_total', 'outcome="deduplicated"')} ` +
        `(one replica's stream over all rounds: ${load.sent()})`,
    );
    if (vm !== undefined) {
      const vRate = median(rows.map((x) => x.unique / x.v!.seconds));
      const vCpu = median(rows.map((x) => ((x.v!.cpu['vm'] ?? 0) / x.unique) * 1e6));
      const vSender = median(rows.map((x) => (x.v!.senderCpu / x.unique) * 1e6));
      const vmText = await vm.metrics();
      say(
        `victoria-metrics counters: rows inserted ${metricValue(vmText, 'vm_rows_inserted_total')}, ` +
          `deduplicated ${metricValue(vmText, 'vm_deduplicated_samples_total')} (dedup runs at merge time)`,
      );
      say(`sender CPU per million samples: to promha ${sender.toFixed(2)} s, to victoria-metrics ${vSender.toFixed(2)} s`);
      yield measurement('vm.promha.ha-on', 'samples/s', pRate, 'victoria-metrics', vRate);
      yield measurement('vm.promha.cpu (node+pg)', 'cpu-s/M', pCpu, 'victoria-metrics', vCpu);
      yield measurement('vm.promha.cpu.node', 'cpu-s/M', pNode, 'victoria-metrics', vCpu);
      yield measurement('vm.promha.cpu.postgres', 'cpu-s/M', pPg, 'victoria-metrics', vCpu);
    } else {
      say(`sender CPU per million samples: ${sender.toFixed(2)} s`);
      yield measurement('vm.promha.ha-on', 'samples/s', pRate, 'victoria-metrics (skipped)', NaN);
      yield measurement('vm.promha.cpu (node+pg)', 'cpu-s/M', pCpu, 'victoria-metrics (skipped)', NaN);
      yield measurement('vm.promha.cpu.node', 'cpu-s/M', pNode, 'victoria-metrics (skipped)', NaN);
      yield measurement('vm.promha.cpu.postgres', 'cpu-s/M', pPg, 'victoria-metrics (skipped)', NaN);
    }
  } finally {
    for (const a of agents) a.destroy();
    for (const t of targets) await t.stop().catch(() => undefined);
    await db.stop();
  }
}

export const benches: readonly Bench[] = [{ name: 'vm', run }];
