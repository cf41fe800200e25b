/**
 * Worker processes (`--workers`): one primary process forks N workers with node:cluster; every worker is an
 * ordinary ingest instance (its own pool, caches and election on the one database, so every HA rule holds as for
 * separate instances) and they share the listen port (the primary accepts connections and hands them out in
 * turn). The primary serves nothing itself; it
 *
 * - owns the embedded PostgreSQL when no database URI is given (started before the workers, stopped after them),
 * - replaces a worker that exits when nothing asked it to, after logging it and counting it in
 *   `promha_worker_unexpected_exits_total` (a pause that grows while replacements keep dying young),
 * - answers `/metrics` for whichever worker got the request: it collects every worker's registry and adds its own
 *   (prom-client's cluster aggregation: sums, except where a metric names another aggregator),
 * - tells every worker whether all of them are ready, so `/ready` answers 200 only when every worker would,
 * - on SIGTERM/SIGINT asks every worker to shut down (each finishes its in-flight requests) and exits once all did.
 *
 * The messages between the two sides are the {@link ToWorker} and {@link ToPrimary} unions below; worker-link.ts
 * is the worker's side.
 */
import cluster, { type Worker } from 'node:cluster';
import { AggregatorRegistry, type MetricObjectWithValues, type MetricValue } from 'prom-client';
import type { SupervisorMetrics } from '../metrics.js';

export type CollectedMetrics = MetricObjectWithValues<MetricValue<string>>[];

/** Messages the primary sends to a worker. */
export type ToWorker =
  | { readonly type: 'promha:collect'; readonly id: number }
  | { readonly type: 'promha:exposition'; readonly id: number; readonly text?: string; readonly error?: string }
  | { readonly type: 'promha:all-ready'; readonly ready: boolean }
  | { readonly type: 'promha:stop' };

/** Messages a worker sends to the primary. */
export type ToPrimary =
  | { readonly type: 'promha:collected'; readonly id: number; readonly metrics: CollectedMetrics }
  | { readonly type: 'promha:exposition?'; readonly id: number }
  | { readonly type: 'promha:ready'; readonly ready: boolean };

export function isMessage<T extends { type: string }>(m: unknown, prefix = 'promha:'): m is T {
  return typeof m === 'object' && m !== null && typeof (m as { type?: unknown }).type === 'string' && (m as { type: string }).type.startsWith(prefix);
}

export interface SupervisorLog {
  info(o: object, msg: string): void;
  warn(o: object, msg: string): void;
  error(o: object, msg: string): void;
}

export interface SupervisorOptions {
  readonly workers: number;
  /** Variables added to every worker's environment (the embedded database's URI). */
  readonly env: Readonly<Record<string, string>>;
  /** Node options added to every worker's (`workerNodeFlags`: the heap its caches need, the young generation). */
  readonly execArgv?: readonly string[];
  readonly log: SupervisorLog;
  readonly metrics: SupervisorMetrics;
  /** How long a worker may take to shut down before it is killed. */
  readonly shutdownTimeoutMs: number;
  /** How long a metrics collection waits for the workers; default 3 s. */
  readonly collectTimeoutMs?: number;
}

/** A replacement that dies within this time after its start counts as dying young. */
const YOUNG_MS = 10_000;

/**
 * Pause before replacing a worker: none after the first unexpected exit, then doubling from 250 ms up to 15 s
 * while replacements keep dying young (a crash loop must not spin the CPU the other workers need).
 */
export function restartDelayMs(youngDeaths: number): number {
  return youngDeaths <= 1 ? 0 : Math.min(15_000, 250 * 2 ** (youngDeaths - 2));
}

interface WorkerState {
  readonly worker: Worker;
  readonly startedAt: number;
  listening: boolean;
  /** Undefined until the worker's service reported (then it also answers metrics collections). */
  ready: boolean | undefined;
}

interface Collection {
  readonly results: CollectedMetrics[];
  pending: Set<number>;
  readonly done: () => void;
}

export class Supervisor {
  private readonly states = new Map<number, WorkerState>();
  private stopping = false;
  private everListened = false;
  private youngDeaths = 0;
  private allReady = false;
  private nextId = 1;
  private readonly collections = new Map<number, Collection>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly exited = new Set<() => void>();
  private startFailed: ((e: Error) => void) | undefined;
  private cleanExits = true;

  constructor(private readonly o: SupervisorOptions) {}

  /** Forks the workers; resolves once each listens, rejects when one exits before any worker ever listened. */
  start(): Promise<void> {
    if (this.o.execArgv !== undefined && this.o.execArgv.length > 0) {
      cluster.setupPrimary({ execArgv: [...process.execArgv, ...this.o.execArgv] });
    }
    cluster.on('exit', (worker, code, signal) => this.onExit(worker, code, signal));
    cluster.on('listening', (worker) => {
      const s = this.states.get(worker.id);
      if (s !== undefined) s.listening = true;
      this.everListened = true;
    });
    cluster.on('message', (worker, message: unknown) => {
      if (isMessage<ToPrimary>(message)) this.onMessage(worker, message);
    });
    return new Promise((ok, fail) => {
      this.startFailed = fail;
      const check = (): void => {
        if ([...this.states.values()].filter((s) => s.listening).length >= this.o.workers) {
          cluster.off('listening', check);
          this.startFailed = undefined;
          ok();
        }
      };
      cluster.on('listening', check);
      for (let i = 0; i < this.o.workers; i++) this.fork();
    });
  }

  private fork(): void {
    const worker = cluster.fork({ ...this.o.env });
    this.states.set(worker.id, { worker, startedAt: Date.now(), listening: false, ready: undefined });
    this.o.metrics.workers.set(this.states.size);
    this.o.log.info({ worker: worker.id, workerPid: worker.process.pid }, `worker ${worker.id} started (pid ${worker.process.pid})`);
    this.publishReady();
  }

  private onExit(worker: Worker, code: number | null, signal: string | null): void {
    const s = this.states.get(worker.id);
    if (s === undefined) return;
    this.states.delete(worker.id);
    this.o.metrics.workers.set(this.states.size);
    for (const c of this.collections.values()) {
      c.pending.delete(worker.id);
      if (c.pending.size === 0) c.done();
    }
    const how = { worker: worker.id, workerPid: worker.process.pid, code, signal };
    if (this.stopping) {
      if (code !== 0) this.cleanExits = false;
      this.o.log.info(how, `worker ${worker.id} exited (${signal ?? code})`);
      if (this.states.size === 0) for (const f of this.exited) f();
      return;
    }
    // Nothing asked this worker to go: a bug (a crash, an exit, a kill from outside). Visible, then replaced.
    this.o.metrics.unexpectedExits.inc();
    this.o.log.error(how, `worker ${worker.id} exited unexpectedly (${signal ?? `code ${code}`}); replacing it`);
    if (!this.everListened && this.startFailed !== undefined) {
      // Nothing ever served: the same failure would repeat (e.g. the address is taken). Give up as one process would.
      const fail = this.startFailed;
      this.startFailed = undefined;
      fail(new Error(`worker ${worker.id} exited (${signal ?? `code ${code}`}) before any worker listened`));
      return;
    }
    this.youngDeaths = Date.now() - s.startedAt < YOUNG_MS ? this.youngDeaths + 1 : 1;
    const delay = restartDelayMs(this.youngDeaths);
    const t = setTimeout(() => {
      this.timers.delete(t);
      if (!this.stopping) this.fork();
    }, delay);
    this.timers.add(t);
    this.publishReady();
  }

  private onMessage(worker: Worker, m: ToPrimary): void {
    const s = this.states.get(worker.id);
    if (s === undefined) return;
    switch (m.type) {
      case 'promha:ready':
        s.ready = m.ready;
        this.publishReady(worker);
        return;
      case 'promha:collected': {
        const c = this.collections.get(m.id);
        if (c === undefined || !c.pending.delete(worker.id)) return;
        c.results.push(m.metrics);
        if (c.pending.size === 0) c.done();
        return;
      }
      case 'promha:exposition?':
        this.exposition().then(
          (text) => send(worker, { type: 'promha:exposition', id: m.id, text }),
          (e: unknown) => send(worker, { type: 'promha:exposition', id: m.id, error: e instanceof Error ? e.message : String(e) }),
        );
        return;
    }
  }

  /** Every worker's metrics and the primary's, aggregated, in the text exposition format. */
  async exposition(): Promise<string> {
    const id = this.nextId++;
    const results: CollectedMetrics[] = [];
    const pending = new Set<number>();
    for (const s of this.states.values()) {
      if (s.ready !== undefined && s.worker.isConnected()) pending.add(s.worker.id);
    }
    const collected = new Promise<void>((ok) => {
      const t = setTimeout(ok, this.o.collectTimeoutMs ?? 3000);
      this.collections.set(id, {
        results,
        pending,
        done: () => {
          clearTimeout(t);
          ok();
        },
      });
      if (pending.size === 0) ok();
    });
    for (const wid of pending) send(this.states.get(wid)!.worker, { type: 'promha:collect', id });
    await collected;
    const missing = this.collections.get(id)?.pending.size ?? 0;
    this.collections.delete(id);
    if (missing > 0) throw new Error(`metrics of ${missing} worker(s) did not arrive in time`);
    results.push(await this.o.metrics.registry.getMetricsAsJSON());
    return AggregatorRegistry.aggregate(results).metrics();
  }

  /** Tells the workers whether all of them are ready (only on change, and to a worker that just reported). */
  private publishReady(newcomer?: Worker): void {
    const states = [...this.states.values()];
    const all = !this.stopping && states.length === this.o.workers && states.every((s) => s.ready === true);
    if (all !== this.allReady) {
      this.allReady = all;
      for (const s of states) if (s.ready !== undefined) send(s.worker, { type: 'promha:all-ready', ready: all });
    } else if (newcomer !== undefined) {
      send(newcomer, { type: 'promha:all-ready', ready: all });
    }
  }

  /**
   * Asks every worker to shut down and waits for all of them (killing those still running after the shutdown
   * timeout). Resolves true when every worker exited with status 0.
   */
  async stop(): Promise<boolean> {
    this.stopping = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    this.publishReady();
    if (this.states.size === 0) return this.cleanExits;
    const allGone = new Promise<void>((ok) => this.exited.add(ok));
    for (const s of this.states.values()) send(s.worker, { type: 'promha:stop' });
    const deadline = new Promise<'timeout'>((ok) => setTimeout(() => ok('timeout'), this.o.shutdownTimeoutMs + 1000).unref());
    if ((await Promise.race([allGone, deadline])) === 'timeout') {
      this.cleanExits = false;
      for (const s of this.states.values()) {
        this.o.log.error({ worker: s.worker.id, workerPid: s.worker.process.pid }, `worker ${s.worker.id} did not shut down in time; killing it`);
        s.worker.process.kill('SIGKILL');
      }
      await allGone;
    }
    return this.cleanExits;
  }
}

function send(worker: Worker, m: ToWorker): void {
  if (!worker.isConnected()) return;
  // A worker that exits between the check and the send makes send fail asynchronously; its exit is handled apart.
  worker.send(m, () => undefined);
}
