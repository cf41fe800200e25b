import { checkRun, type AckRecord, type CheckResult, type LeaderChange, type StoredSample } from './checkers.js';
import { generateFaults, type Fault } from './faults.js';
import { HttpTransport } from './http-transport.js';
import { HEALTHY_LINK, LoadBalancer, type BalancerStats, type LinkState } from './lb.js';
import { Prng } from './prng.js';
import { FakeReplica, type Timers, type Transport } from './replica.js';
import type { Scenario } from './scenario.js';
import type { IngestTier } from './tier.js';
import type { WireSeries } from './wire.js';

/** What happened to a scheduled fault when the run applied it. */
export interface FaultEvent {
  readonly faultId: number;
  readonly action: 'start' | 'end' | 'skipped' | 'failed';
  readonly atMs: number;
  readonly detail?: string;
}

export interface Progress {
  readonly atMs: number;
  readonly durationMs: number;
  readonly phase: 'running' | 'draining' | 'checking';
  readonly scraped: number;
  readonly answered: number;
  readonly queued: number;
  readonly activeFaults: number;
  readonly requests: number;
}

export interface RunResult {
  readonly scenario: Scenario;
  readonly faults: readonly Fault[];
  readonly faultEvents: readonly FaultEvent[];
  readonly skews: readonly (readonly number[])[];
  readonly dataBaseMs: number;
  readonly wallStartMs: number;
  readonly check: CheckResult;
  readonly history: readonly LeaderChange[] | undefined;
  readonly balancer: BalancerStats;
  readonly tier: string;
  /** Every answer the replicas got, in the order they got them. */
  readonly acks: readonly AckRecord[];
  readonly stored: readonly StoredSample[];
}

/** Everything of the outside world the runner uses, injected so the run's logic reads no clock of its own. */
export interface RunEnvironment {
  readonly tier: IngestTier;
  /** Wall clock (epoch ms): data time base and the ingest's history timestamps. */
  readonly wallNow: () => number;
  readonly timers: Timers;
  readonly encode: (series: readonly WireSeries[]) => Uint8Array;
  readonly onProgress?: (p: Progress) => void;
  readonly progressEveryMs?: number;
  readonly gapSlackMs?: number;
  /** The network between replicas and instances; default the HTTP load balancer in front of `tier.ports()`. */
  readonly network?: (o: NetworkOptions) => Promise<Network>;
  /** Only the scheduled faults with these ids (replaying a shrunk schedule); default all. */
  readonly keepFaults?: ReadonlySet<number>;
}

export interface NetworkOptions {
  readonly link: (cluster: number, replica: number) => LinkState;
  readonly rng: Prng;
  readonly sleep: (ms: number) => Promise<void>;
}

export interface Network {
  readonly transport: Transport;
  readonly stats: BalancerStats;
  close(): Promise<void>;
}

async function httpNetwork(tier: IngestTier, scenario: Scenario, o: NetworkOptions): Promise<Network> {
  const lb = new LoadBalancer({ backends: () => tier.ports(), ...o });
  const port = await lb.listen();
  const transport = new HttpTransport(port, Math.max(5000, 4 * scenario.leaseTimeoutMs));
  return {
    transport,
    stats: lb.stats,
    close: async () => {
      transport.close();
      await lb.close();
    },
  };
}

/** The fault schedule and per-replica skews a seed produces: the reproducible part of a run. */
export function plan(scenario: Scenario): {
  faults: readonly Fault[];
  skews: number[][];
} {
  const root = new Prng(scenario.seed);
  const skewRng = root.fork('skew');
  const faultRng = root.fork('faults');
  const skews = Array.from({ length: scenario.clusters }, () =>
    Array.from({ length: scenario.replicas }, () => skewRng.int(scenario.skewMinMs, scenario.skewMaxMs)),
  );
  return { faults: generateFaults(scenario, faultRng), skews };
}

export async function runScenario(scenario: Scenario, env: RunEnvironment): Promise<RunResult> {
  const { timers, tier } = env;
  const root = new Prng(scenario.seed);
  const planned = plan(scenario);
  const { skews } = planned;
  const faults = env.keepFaults === undefined ? planned.faults : planned.faults.filter((f) => env.keepFaults!.has(f.id));
  const events: FaultEvent[] = [];
  const active = new Set<Fault>();
  const sleep = (ms: number): Promise<void> => new Promise((resolve) => timers.after(ms, resolve));

  const link = (cluster: number, replica: number): LinkState => {
    let state = HEALTHY_LINK;
    for (const f of active) {
      if (f.cluster !== cluster || f.replica !== replica) continue;
      if (f.kind === 'replica-cut') state = { ...state, cut: true };
      if (f.kind === 'slow-link') state = { ...state, delayMs: state.delayMs + (f.delayMs ?? 0) };
      if (f.kind === 'lossy-link')
        state = {
          ...state,
          lossProbability: Math.max(state.lossProbability, f.probability ?? 0),
        };
      if (f.kind === 'duplicate-delivery')
        state = {
          ...state,
          duplicateProbability: Math.max(state.duplicateProbability, f.probability ?? 0),
        };
    }
    return state;
  };
  const networkOptions: NetworkOptions = { link, rng: root.fork('lb'), sleep };
  const network = await (env.network?.(networkOptions) ?? httpNetwork(tier, scenario, networkOptions));
  const transport = network.transport;

  const wallStartMs = env.wallNow();
  const dataBaseMs = wallStartMs - timers.now();
  const acks: AckRecord[] = [];
  const replicas: FakeReplica[][] = skews.map((row, c) =>
    row.map(
      (skewMs, r) =>
        new FakeReplica({
          scenario,
          cluster: c,
          replica: r,
          skewMs,
          dataBaseMs,
          rng: root.fork(`replica-${c}-${r}`),
          timers,
          transport,
          encode: env.encode,
          onAnswer: (a) => acks.push(a),
        }),
    ),
  );
  const t0 = timers.now();
  const at = (): number => timers.now() - t0;

  const pendingActions: Promise<void>[] = [];
  const act = (f: Fault, action: 'start' | 'end', fn: () => Promise<void> | void): void => {
    pendingActions.push(
      (async () => {
        try {
          await fn();
          events.push({ faultId: f.id, action, atMs: at() });
        } catch (e: unknown) {
          events.push({
            faultId: f.id,
            action: 'failed',
            atMs: at(),
            detail: e instanceof Error ? e.message : String(e),
          });
        }
      })(),
    );
  };
  // Faults aimed at "the leader" learn their replica when they start; `applied` holds the faults as they hit.
  const applied = new Map<number, Fault>();
  // Outages of one shared resource (the database, an ingest instance) may overlap in the schedule: the resource
  // goes down when the first begins and comes back when the last ends, and its stop/start steps never interleave.
  const outages = new Map<string, { count: number; chain: Promise<void> }>();
  const outage = (key: string, delta: 1 | -1, step: () => Promise<void>): Promise<void> => {
    let o = outages.get(key);
    if (o === undefined) outages.set(key, (o = { count: 0, chain: Promise.resolve() }));
    const before = o.count;
    o.count += delta;
    const run = (delta === 1 && before === 0) || (delta === -1 && o.count === 0);
    if (!run) return o.chain;
    o.chain = o.chain.then(step, step);
    return o.chain;
  };
  for (const planned of faults) {
    timers.after(planned.atMs, () => {
      if (planned.kind === 'postgres-restart' && !tier.canRestartDatabase) {
        events.push({
          faultId: planned.id,
          action: 'skipped',
          atMs: at(),
          detail: 'database given by URI cannot be restarted',
        });
        return;
      }
      if (planned.kind === 'load-burst' && tier.loadBurst === undefined) {
        events.push({ faultId: planned.id, action: 'skipped', atMs: at(), detail: 'this ingest tier cannot be loaded' });
        return;
      }
      pendingActions.push(
        (async () => {
          let f = planned;
          if (f.targetLeader === true && f.cluster !== undefined) {
            const leader = await tier.leaderOf(f.cluster).catch(() => undefined);
            if (leader !== undefined && leader < scenario.replicas) f = { ...f, replica: leader };
          }
          applied.set(f.id, f);
          const replica =
            f.cluster !== undefined && f.replica !== undefined ? replicas[f.cluster]?.[f.replica] : undefined;
          active.add(f);
          act(f, 'start', () => {
            if (f.kind === 'replica-crash') replica?.crash();
            else if (f.kind === 'clock-jump') replica?.jumpClock(f.jumpMs ?? 0);
            else if (f.kind === 'ingest-kill')
              return outage(`ingest-${f.ingester ?? 0}`, 1, () => tier.kill(f.ingester ?? 0));
            else if (f.kind === 'postgres-restart') return outage('db', 1, () => tier.stopDatabase());
            else if (f.kind === 'backend-kill') return tier.killBackends().then(() => undefined);
            else if (f.kind === 'load-burst') return outage('load', 1, () => tier.loadBurst?.(true) ?? Promise.resolve());
            return undefined;
          });
          timers.after(f.durationMs, () => {
            active.delete(f);
            act(f, 'end', () => {
              if (f.kind === 'replica-crash') replica?.start();
              else if (f.kind === 'ingest-kill')
                return outage(`ingest-${f.ingester ?? 0}`, -1, () => tier.restart(f.ingester ?? 0));
              else if (f.kind === 'postgres-restart') return outage('db', -1, () => tier.startDatabase());
              else if (f.kind === 'load-burst') return outage('load', -1, () => tier.loadBurst?.(false) ?? Promise.resolve());
              return undefined;
            });
          });
        })(),
      );
    });
  }

  const all = replicas.flat();
  const progress = (phase: Progress['phase']): void =>
    env.onProgress?.({
      atMs: at(),
      durationMs: scenario.durationMs,
      phase,
      scraped: all.reduce((n, r) => n + r.scraped, 0),
      answered: all.reduce((n, r) => n + r.answered, 0),
      queued: all.reduce((n, r) => n + r.queuedSamples, 0),
      activeFaults: active.size,
      requests: network.stats.requests,
    });
  let phase: Progress['phase'] = 'running';
  let stopProgress = false;
  const tick = (): void => {
    if (stopProgress) return;
    progress(phase);
    timers.after(env.progressEveryMs ?? 250, tick);
  };
  tick();

  for (const r of all) r.start();
  await sleep(scenario.durationMs);
  for (const r of all) r.stopScraping();
  phase = 'draining';
  // Faults scheduled past the end still run their end action, so that killed instances come back.
  await Promise.all(pendingActions);
  const drainEnd = at() + scenario.drainMs;
  while (at() < drainEnd && all.some((r) => r.queuedSamples > 0)) await sleep(50);
  for (const r of all) r.crash();
  await Promise.all(pendingActions);
  phase = 'checking';
  progress(phase);
  stopProgress = true;
  await network.close();

  const hit = faults.map((f) => applied.get(f.id) ?? f);
  const standbyOverflow = await tier.standbyOverflow?.();
  const stored = await tier.readStored();
  const history = scenario.highAvailability ? await tier.readHistory(wallStartMs) : undefined;
  const check = checkRun({
    scenario,
    faults: hit,
    dataBaseMs,
    skews,
    stored,
    acks,
    ...(history === undefined ? {} : { history }),
    ...(env.gapSlackMs === undefined ? {} : { gapSlackMs: env.gapSlackMs }),
    crashes: tier.crashes(wallStartMs),
    ...(standbyOverflow === undefined ? {} : { standbyOverflow }),
  });
  return {
    scenario,
    faults: hit,
    faultEvents: events.sort((a, b) => a.atMs - b.atMs),
    skews,
    dataBaseMs,
    wallStartMs,
    check,
    history,
    balancer: { ...network.stats },
    tier: tier.description,
    acks,
    stored,
  };
}
