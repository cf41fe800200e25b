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
 * promha runs as `npm start` runs it (`promha default`: every default, so one worker per core less one for the
 * embedded PostgreSQL (one process on two cores), behind one port, and the embedded PostgreSQL; CPU counted: the
 * whole process tree,
 * split into PostgreSQL (the postmaster's tree) and node (the rest)), and as one ingest process and as two
 * (`--workers=1` each; instances share one database, senders spread over them as a load balancer keeping
 * connections would; instances are stateless, docs/design.md). Each promha system has its own PostgreSQL server.
 *
 * Without /usr/bin/victoria-metrics the bench says it skipped it, and still reports promha's figures.
 *
 * Environment: PROMHA_BENCH_VM_ROUNDS (measured rounds, default 5), PROMHA_BENCH_VM_REQUESTS (requests per
 * sender per round, default 20), PROMHA_BENCH_VM_INSTANCES (promha systems by instance count, default `1,2`;
 * empty for none), PROMHA_BENCH_VM_DEFAULT=0 (no `promha default` system),
 * PROMHA_BENCH_NODE_FLAGS (one more promha system, one instance, with these Node flags),
 * PROMHA_BENCH_PROFILE=<dir> (promha runs with --cpu-prof, profile written there
 * on exit; summarise with tools/bench/src/profile-summary.ts), PROMHA_BENCH_PG_FAST=1 (throwaway PostgreSQL
 * settings: fsync off; default is PostgreSQL's defaults).
 */
import { readdirSync } from 'node:fs';
import { Agent } from 'node:http';
import { startTestDatabase } from '@promha/storage/testing';
import { measurement, median, type Bench, type Measurement } from '../harness.js';
import { DEFAULT_SHAPE, Load, type Round } from '../internal/load.js';
import { processCpu, readStat, treeCpu } from '../internal/procs.js';
import { postmasterPid, postWrite, sumOfMetric, startPromha, startVictoriaMetrics, victoriaMetricsMissing, type Target } from '../internal/targets.js';

const ROUNDS = Number(process.env['PROMHA_BENCH_VM_ROUNDS'] ?? 5);
const REQUESTS = Number(process.env['PROMHA_BENCH_VM_REQUESTS'] ?? 20);
/** promha systems to run, by number of ingest processes sharing one database (instances behind a balancer). */
const INSTANCES = (process.env['PROMHA_BENCH_VM_INSTANCES'] ?? '1,2')
  .split(',')
  .filter((n) => n !== '')
  .map(Number);
const DEFAULT_SYSTEM = process.env['PROMHA_BENCH_VM_DEFAULT'] !== '0';
/** When set, one more promha system (one instance) runs with these Node flags. */
const NODE_FLAGS = (process.env['PROMHA_BENCH_NODE_FLAGS'] ?? '').split(' ').filter((f) => f !== '');
const PROFILE_DIR = process.env['PROMHA_BENCH_PROFILE'];
const PG_FAST = process.env['PROMHA_BENCH_PG_FAST'] === '1';

interface RoundResult {
  readonly seconds: number;
  /** 2xx answers by status. */
  readonly statuses: ReadonlyMap<number, number>;
  /** Answers other than 2xx (first few), with their bodies. */
  readonly reasons: readonly string[];
  /** Requests not acknowledged after the resends. */
  readonly failed: number;
  /** CPU seconds of the system under test, by part. */
  readonly cpu: Readonly<Record<string, number>>;
  readonly senderCpu: number;
}

/** A 5xx is resent after a pause, as Prometheus' queue does; the first reason seen is kept for the log. */
const RESENDS = 5;
const RESEND_PAUSE_MS = 100;

type CpuProbe = () => Record<string, number>;

/**
 * Sends every sender's bodies (each sender one request at a time, all senders concurrently). With several
 * targets (instances behind a load balancer), sender k talks to target k mod n, as a balancer keeping each
 * remote-write connection on one instance would; the senders come replica by replica, so every instance gets a
 * share of each replica's streams (`Round.senders`).
 */
async function sendRound(agents: readonly Agent[], targets: readonly Target[], round: Round, probe: CpuProbe): Promise<RoundResult> {
  const statuses = new Map<number, number>();
  const reasons = new Set<string>();
  let failed = 0;
  const cpu0 = probe();
  const self0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  await Promise.all(
    round.senders.map(async (sender, k) => {
      const target = targets[k % targets.length]!;
      for (const body of sender.bodies) {
        for (let attempt = 0; ; attempt++) {
          // A keep-alive connection the server closed while idle (the other system's round outlasted its keep-alive
          // timeout) resets when reused: counted as 599 and resent, as Prometheus resends after a connection error.
          const { status, reason } = await postWrite(agents[k]!, target, body).catch((e: unknown) => ({ status: 599, reason: String(e) }));
          statuses.set(status, (statuses.get(status) ?? 0) + 1);
          if (status >= 200 && status <= 299) break;
          if (status >= 500 && attempt < RESENDS) {
            if (reasons.size < 3) reasons.add(`${status} ${reason}`);
            await new Promise((ok) => setTimeout(ok, RESEND_PAUSE_MS));
            continue;
          }
          reasons.add(`${status} ${reason}`);
          failed++;
          break;
        }
      }
    }),
  );
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const self = process.cpuUsage(self0);
  const cpu1 = probe();
  const cpu: Record<string, number> = {};
  for (const k of Object.keys(cpu1)) cpu[k] = (cpu1[k] ?? 0) - (cpu0[k] ?? 0);
  return { seconds, statuses, reasons: [...reasons], failed, cpu, senderCpu: (self.user + self.system) / 1e6 };
}

/**
 * An agent per sender, one keep-alive connection each: a sender stands for one Prometheus replica's shard, whose
 * connections carry only that replica's data (a shared pool would hand one replica's connection to the other).
 */
function senderAgents(senders: number, cleanups: (() => Promise<void>)[]): Agent[] {
  const agents = Array.from({ length: senders }, () => new Agent({ keepAlive: true, maxSockets: 1 }));
  cleanups.push(() => Promise.resolve(agents.forEach((a) => a.destroy())));
  return agents;
}

function total(cpu: Readonly<Record<string, number>>): number {
  return Object.values(cpu).reduce((a, b) => a + b, 0);
}

function fmtStatuses(m: ReadonlyMap<number, number>): string {
  return [...m.entries()].sort(([a], [b]) => a - b).map(([s, n]) => `${s}x${n}`).join(' ');
}

function say(line: string): void {
  process.stderr.write(`  ${line}\n`);
}

/** One system under test: its endpoints, how to read its CPU, and the parts of that CPU by name. */
interface System {
  readonly name: string;
  readonly targets: readonly Target[];
  /** One per sender: a Prometheus keeps its own connections, never shared with another replica's. */
  readonly agents: readonly Agent[];
  readonly probe: CpuProbe;
  readonly rows: RoundResult[];
}

async function startPromhaSystem(
  name: string,
  instances: number,
  nodeFlags: readonly string[],
  fast: boolean,
  cleanups: (() => Promise<void>)[],
  senders: number,
): Promise<System> {
  // Each promha system has its own PostgreSQL server, so background work (autovacuum, checkpoints) of one
  // system never lands in another's rounds.
  const db = await startTestDatabase({ fast });
  cleanups.push(() => db.stop());
  const dbUri = await db.createDatabase();
  const postmaster = db.source === 'embedded' ? await postmasterPid(db.uri) : undefined;
  const targets: Target[] = [];
  for (let i = 0; i < instances; i++) {
    const t = await startPromha({ dbUri, cpuProfileDir: PROFILE_DIR, nodeFlags, extraArgs: ['--workers=1'] });
    cleanups.push(() => t.stop());
    targets.push(t);
  }
  say(
    `${name}: ${instances} ingest process(es) ${targets.map((t) => t.pid).join(', ')}, HA on, PostgreSQL ${db.source}` +
      `${fast ? ' (fsync off)' : ' (default settings)'}; CPU counted: the ingest process(es) + ` +
      (postmaster !== undefined ? `postmaster ${postmaster} and all its descendants` : 'no PostgreSQL (server not local)'),
  );
  const agents = senderAgents(senders, cleanups);
  return {
    name,
    targets,
    agents,
    rows: [],
    probe: () => ({
      node: targets.reduce((a, t) => a + processCpu(t.pid), 0),
      postgres: postmaster !== undefined ? treeCpu(postmaster).seconds : 0,
    }),
  };
}

/** The postmaster the primary process started: its child named `postgres`. */
function embeddedPostmaster(primary: number): number | undefined {
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const s = readStat(Number(name));
    if (s?.ppid === primary && s.comm === 'postgres') return s.pid;
  }
  return undefined;
}

/** promha as `npm start` runs it: default workers, the embedded PostgreSQL of the first process. */
async function startDefaultSystem(cleanups: (() => Promise<void>)[], senders: number): Promise<System> {
  const t = await startPromha({ dbUri: undefined, cpuProfileDir: PROFILE_DIR });
  cleanups.push(() => t.stop());
  const postmaster = embeddedPostmaster(t.pid);
  const workers = treeCpu(t.pid).processes - (postmaster === undefined ? 0 : treeCpu(postmaster).processes) - 1;
  say(
    `promha default: ${workers === 0 ? `one process ${t.pid}` : `primary ${t.pid} with ${workers} workers`} (npm start defaults: ` +
      `--workers=auto, HA on), embedded PostgreSQL ${postmaster ?? '(postmaster not found)'} (default settings); CPU counted: ` +
      `its process tree`,
  );
  const agents = senderAgents(senders, cleanups);
  return {
    name: 'promha default',
    targets: [t],
    agents,
    rows: [],
    probe: () => {
      const pgCpu = postmaster !== undefined ? treeCpu(postmaster).seconds : 0;
      return { node: treeCpu(t.pid).seconds - pgCpu, postgres: pgCpu };
    },
  };
}

async function* run(): AsyncIterable<Measurement> {
  const missing = victoriaMetricsMissing();
  const cleanups: (() => Promise<void>)[] = [];
  const shape = DEFAULT_SHAPE;
  const senders = shape.clusters * shape.replicas * shape.shards;
  try {
    const systems: System[] = [];
    if (DEFAULT_SYSTEM) systems.push(await startDefaultSystem(cleanups, senders));
    for (const n of INSTANCES) systems.push(await startPromhaSystem(`promha x${n}`, n, [], PG_FAST, cleanups, senders));
    if (NODE_FLAGS.length > 0) {
      // The same service with extra Node flags, as a same-run candidate against the default.
      systems.push(await startPromhaSystem(`promha x1 ${NODE_FLAGS.join(' ')}`, 1, NODE_FLAGS, PG_FAST, cleanups, senders));
    }
    let vm: System | undefined;
    if (missing === undefined) {
      const t = await startVictoriaMetrics('__replica__');
      cleanups.push(() => t.stop());
      vm = { name: 'victoria-metrics', targets: [t], agents: senderAgents(senders, cleanups), rows: [], probe: () => ({ vm: processCpu(t.pid) }) };
      systems.push(vm);
      say(`victoria-metrics ${t.pid}: replica label dropped by relabeling, -dedup.minScrapeInterval=1ms; CPU counted: its process`);
    } else {
      say(`victoria-metrics skipped: ${missing}`);
    }
    // Data time an hour back, inside both systems' retention and far from "the future".
    const load = new Load(shape, Date.now() - 3_600_000);
    say(
      `load: ${shape.clusters} clusters x ${shape.replicas} replicas x ${shape.shards} shards = ${senders} senders, ` +
        `${REQUESTS} requests each per round, ${shape.minSamplesPerRequest}-${shape.maxSamplesPerRequest} samples/request, 10 labels/series`,
    );

    const uniques: number[] = [];
    for (let r = 0; r <= ROUNDS; r++) {
      const round = load.round(REQUESTS);
      if (r === 1 && PROFILE_DIR !== undefined) {
        for (const sys of systems) {
          for (const t of sys.targets) {
            if (sys === vm) continue;
            say(`profile of ${t.pid}: measured rounds start ${((Date.now() - t.spawnedAt) / 1000).toFixed(1)} s after spawn (profile-summary --after=that)`);
          }
        }
      }
      const parts: string[] = [];
      // Rotate the order every round so no system always runs first.
      for (let j = 0; j < systems.length; j++) {
        const sys = systems[(j + r) % systems.length]!;
        const res = await sendRound(sys.agents, sys.targets, round, sys.probe);
        const cpu = Object.entries(res.cpu).map(([k, v]) => `${k} ${v.toFixed(2)}`).join(' ');
        parts.push(`${sys.name} ${Math.round(round.uniqueSamples / res.seconds)}/s [${fmtStatuses(res.statuses)}] cpu ${cpu} (sender ${res.senderCpu.toFixed(2)})`);
        if (res.reasons.length > 0) say(`${sys.name} round ${r}: non-2xx answers (resent): ${res.reasons.join(' | ')}`);
        if (res.failed > 0) throw new Error(`${sys.name}: requests failed after ${RESENDS} resends in round ${r}: ${fmtStatuses(res.statuses)}`);
        if (r > 0) sys.rows.push(res);
      }
      if (r > 0) uniques.push(round.uniqueSamples);
      say(`round ${r}${r === 0 ? ' (warm-up)' : ''}: ${round.uniqueSamples} samples/replica, ${round.requests} requests; ${parts.join('; ')}`);
    }

    const rate = (sys: System): number => median(sys.rows.map((x, i) => uniques[i]! / x.seconds));
    const perM = (sys: System, part?: string): number =>
      median(sys.rows.map((x, i) => ((part === undefined ? total(x.cpu) : (x.cpu[part] ?? 0)) / uniques[i]!) * 1e6));
    for (const sys of systems) {
      if (sys === vm) continue;
      const m = await sys.targets[0]!.metrics();
      say(
        `${sys.name} counters (first instance): stored ${sumOfMetric(m, 'promha_samples_total', 'outcome="stored"')}, ` +
          `deduplicated ${sumOfMetric(m, 'promha_samples_total', 'outcome="deduplicated"')} (one replica's stream over all rounds, all instances: ${load.sent()})`,
      );
      say(`${sys.name}: sender CPU per million samples ${median(sys.rows.map((x, i) => (x.senderCpu / uniques[i]!) * 1e6)).toFixed(2)} s`);
    }
    if (vm !== undefined) {
      const text = await vm.targets[0]!.metrics();
      say(
        `victoria-metrics counters: rows inserted ${sumOfMetric(text, 'vm_rows_inserted_total')}, ` +
          `deduplicated ${sumOfMetric(text, 'vm_deduplicated_samples_total')} (dedup runs at merge time)`,
      );
      say(`victoria-metrics: sender CPU per million samples ${median(vm.rows.map((x, i) => (x.senderCpu / uniques[i]!) * 1e6)).toFixed(2)} s`);
    }
    const base = vm !== undefined ? vm.name : 'victoria-metrics (skipped)';
    const vRate = vm !== undefined ? rate(vm) : NaN;
    const vCpu = vm !== undefined ? perM(vm) : NaN;
    for (const sys of systems) {
      if (sys === vm) continue;
      const id = `vm.${sys.name.replaceAll(' ', '.')}`;
      yield measurement(`${id}.ha-on`, 'samples/s', rate(sys), base, vRate);
      yield measurement(`${id}.cpu (node+pg)`, 'cpu-s/M', perM(sys), base, vCpu);
      yield measurement(`${id}.cpu.node`, 'cpu-s/M', perM(sys, 'node'), base, vCpu);
      yield measurement(`${id}.cpu.postgres`, 'cpu-s/M', perM(sys, 'postgres'), base, vCpu);
    }
  } finally {
    for (const c of cleanups.reverse()) await c().catch(() => undefined);
  }
}

export const benches: readonly Bench[] = [{ name: 'vm', run }];
