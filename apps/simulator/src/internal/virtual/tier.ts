import type { EventEmitter } from 'node:events';
import type { Lease } from '@promha/election';
import { ElectionEngine, type Policy } from '@promha/election/testing';
import { realLibraries, resolveConfig, startService, type ElectionService, type Libraries, type RunningService } from '@promha/ingest';
import { openStorage } from '@promha/storage';
import type { DatabaseAdmin } from '@promha/storage/testing';
import type { IngestCrash, LeaderChange, StoredSample } from '../checkers.js';
import type { Scenario } from '../scenario.js';
import type { IngestTier } from '../tier.js';
import { clusterIndex, clusterName, METRIC_NAME, replicaIndex } from '../values.js';
import type { VirtualEndpoint } from './network.js';
import type { VirtualScheduler } from './scheduler.js';

export interface VirtualTierOptions {
  readonly scenario: Scenario;
  readonly dbUri: string;
  readonly admin: DatabaseAdmin;
  readonly scheduler: VirtualScheduler;
  /** Epoch ms of virtual time 0 on a clock without skew. */
  readonly wallBase: number;
  /**
   * Clock skew per ingest instance. The HA guard and the history's wall times are on the database's clock (virtual
   * time without skew), so the runner's time axis is unaffected.
   */
  readonly skews: readonly number[];
  /** Replaces the election's decision core (a deliberately broken one, to prove the checks catch it). */
  readonly policy?: Policy;
  /** Every decision, fence failure and crash, in order: part of the run's digest. */
  readonly record: (event: readonly unknown[]) => void;
}

export interface VirtualTier extends IngestTier {
  readonly endpoints: () => readonly (VirtualEndpoint | undefined)[];
  /** Starts every instance and waits until each has loaded its leases. */
  start(): Promise<void>;
}

interface Incarnation {
  readonly owner: number;
  readonly service: RunningService;
  /** Requests being handled: answered 502 (connection reset) when the instance crashes. */
  readonly inFlight: Set<(status: number) => void>;
  readonly sessions: Set<number>;
}

/** How many times slower every database operation runs during a `load-burst`. */
const LOAD_BURST_SLOWDOWN = 25;

const WRITE_HEADERS = {
  'content-type': 'application/x-protobuf',
  'content-encoding': 'snappy',
  'x-prometheus-remote-write-version': '0.1.0',
};

/**
 * The ingest tier of the deterministic mode: `--ingesters` promha services (the real Fastify app, pipeline,
 * election and storage writer, from @promha/ingest) in this process, each with its own virtual clock, its timers
 * and its database operations on the virtual scheduler, and requests injected without sockets. A crash drops the
 * instance's memory at once (its timers and operations are abandoned, its sessions terminated). A connection
 * error that nobody in the instance listens for would have ended a real process: it is recorded as a crash
 * (check 6) and the instance is restarted after a lease timeout, as a supervisor would.
 */
export function virtualTier(o: VirtualTierOptions): VirtualTier {
  const { scenario, scheduler } = o;
  const live: (Incarnation | undefined)[] = Array.from({ length: scenario.ingesters }, () => undefined);
  const crashes: IngestCrash[] = [];
  let nextOwner = 0;

  const config = resolveConfig(
    [
      `--db.uri=${o.dbUri}`,
      `--ha.lease-timeout=${scenario.leaseTimeoutMs}ms`,
      `--ha.lease-refresh=${scenario.leaseRefreshMs}ms`,
      `--metrics.high-availability=${scenario.highAvailability}`,
    ],
    {},
  );
  if (config.kind !== 'run') throw new Error('unexpected ingest help output');

  // Every session an instance has used, by backend pid: resolves once its connection has seen its end.
  const connectionEnds = new Map<number, Promise<void>>();
  /**
   * Terminates sessions and waits until each one's connection has seen it (its 'error' and 'end' events are
   * handled): outside the scheduler, so the next step finds every pool as it will be, however long that took.
   */
  const terminate = (options?: Parameters<DatabaseAdmin['terminateBackends']>[0]): Promise<number[]> =>
    scheduler.outside(
      o.admin.terminateBackends(options).then(async (pids) => {
        // A connection that never reports its end would stall the run: after 10 s it is not waited for.
        let timer: NodeJS.Timeout | undefined;
        const giveUp = new Promise<void>((r) => (timer = setTimeout(r, 10_000)));
        await Promise.race([Promise.all(pids.map((pid) => connectionEnds.get(pid) ?? Promise.resolve())), giveUp]);
        clearTimeout(timer);
        return pids;
      }),
    );

  const kill = async (i: number): Promise<void> => {
    const inc = live[i];
    if (inc === undefined) return;
    live[i] = undefined;
    scheduler.kill(inc.owner);
    for (const answer of inc.inFlight) answer(502);
    inc.inFlight.clear();
    // The process is gone: PostgreSQL sees its connections close and rolls back what they had open.
    await terminate({ pids: [...inc.sessions] });
  };

  const start = async (i: number): Promise<void> => {
    if (live[i] !== undefined) return;
    const owner = nextOwner++;
    const sessions = new Set<number>();
    const seen = new WeakSet<EventEmitter>();
    const withPid = new WeakSet<EventEmitter>();
    const gate = scheduler.gateFor(owner);
    const libs = realLibraries();
    const recording = (e: ElectionService): ElectionService => ({
      start: () => e.start(),
      sync: () => e.sync(),
      leases: () => e.leases(),
      isReady: () => e.isReady(),
      clockOffsetMs: () => e.clockOffsetMs?.() ?? 0,
      decide: async (part) => {
        const d = await e.decide(part);
        o.record(['decide', i, part.cluster, part.replica, part.minTime, part.maxTime, d.kind, d.kind === 'store' ? [d.from, d.until, d.fence.epoch, d.fence.extendUntil ?? null] : d.kind === 'dedupe' ? d.leader : d.reason]);
        return d;
      },
      onFenceFailure: (f) => {
        o.record(['fence-failed', i, f.cluster, f.current?.leader ?? null, f.current?.epoch ?? null]);
        e.onFenceFailure(f);
      },
      onWriteFailed: (fence) => {
        o.record(['write-failed', i, fence.cluster, fence.epoch]);
        e.onWriteFailed(fence);
      },
    });
    const libraries: Libraries = {
      ...libs,
      openStorage: (options) =>
        openStorage({
          ...options,
          // The database's clock is virtual time too (unskewed: the instances' skews are their own).
          databaseClock: () => o.wallBase + scheduler.now(),
          statementGate: {
            run: (operation, begin) => {
              const pid = operation.backendPid;
              if (pid !== undefined && !withPid.has(operation.connection)) {
                withPid.add(operation.connection);
                sessions.add(pid);
                const end = new Promise<void>((ended) =>
                  operation.connection.once('end', () => {
                    // PostgreSQL reuses pids: forget this session only if the pid is still its own.
                    if (connectionEnds.get(pid) === end) connectionEnds.delete(pid);
                    ended();
                  }),
                );
                connectionEnds.set(pid, end);
              }
              if (!seen.has(operation.connection)) {
                seen.add(operation.connection);
                const connection = operation.connection;
                connection.on('error', (e: unknown) => {
                  // Another listener (the pool's for an idle client, the storage's own) handles it: no crash.
                  if (live[i]?.owner !== owner || connection.listenerCount('error') > 1) return;
                  const message = e instanceof Error ? e.message : String(e);
                  crashes.push({ instance: i, atMs: o.wallBase + scheduler.now(), how: "unhandled 'error' event on a database connection", lastLines: [message] });
                  o.record(['crash', i, message]);
                  void kill(i).then(() => scheduler.after(-1, scenario.leaseTimeoutMs, () => void start(i)));
                });
              }
              return gate.run(operation, begin);
            },
          },
        }),
      createElection: (deps) => recording(o.policy === undefined ? libs.createElection(deps) : new ElectionEngine(deps, o.policy)),
    };
    const skew = o.skews[i] ?? 0;
    const service = await startService(config.config, libraries, {
      clock: { now: () => o.wallBase + scheduler.now() + skew },
      timers: scheduler.timersFor(owner),
      startupRetryMs: Math.max(50, Math.floor(scenario.leaseRefreshMs / 2)),
    });
    await service.app.ready();
    live[i] = { owner, service, inFlight: new Set(), sessions };
  };

  // The run is over: nothing runs any more, every session is closed (abandoned operations never finish, so the
  // pools are not ended: their connections just die).
  let stopped = false;
  const stopAll = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    scheduler.stop();
    for (let i = 0; i < live.length; i++) {
      const inc = live[i];
      if (inc === undefined) continue;
      live[i] = undefined;
      scheduler.kill(inc.owner);
    }
    await terminate();
  };

  const endpoint = (i: number): VirtualEndpoint | undefined => {
    const inc = live[i];
    if (inc === undefined || !inc.service.ready()) return inc === undefined ? undefined : { write: () => Promise.resolve(503) };
    return {
      write: (body) =>
        new Promise<number>((resolve) => {
          let done = false;
          const answer = (status: number): void => {
            if (done) return;
            done = true;
            inc.inFlight.delete(answer);
            resolve(status);
          };
          inc.inFlight.add(answer);
          inc.service.app
            .inject({ method: 'POST', url: '/api/v1/write', headers: WRITE_HEADERS, payload: Buffer.from(body) })
            .then((res) => answer(res.statusCode), () => answer(502));
        }),
    };
  };

  const readBack = async <T>(f: (s: Awaited<ReturnType<typeof openStorage>>) => Promise<T>): Promise<T> => {
    const storage = await openStorage({ uri: o.dbUri });
    try {
      return await f(storage);
    } finally {
      await storage.close();
    }
  };

  return {
    description: `${scenario.ingesters} promha ingest service(s) in this process on virtual time over PostgreSQL`,
    endpoints: () => live.map((_, i) => endpoint(i)),
    start: async () => {
      for (let i = 0; i < live.length; i++) await start(i);
      for (const inc of live) await inc?.service.started();
    },
    ports: () => [],
    pid: () => undefined,
    kill,
    restart: (i) => start(i),
    canRestartDatabase: true,
    stopDatabase: async () => {
      scheduler.databaseDown();
      scheduler.breakSessions(new Set(await terminate()));
    },
    startDatabase: () => {
      scheduler.databaseUp();
      return Promise.resolve();
    },
    loadBurst: (on) => {
      // A saturated server: a statement that took 1-4 ms takes 25-100 ms.
      scheduler.loadBurst(on ? LOAD_BURST_SLOWDOWN : 1);
      return Promise.resolve();
    },
    killBackends: async () => {
      const pids = await terminate({ busyOnly: true });
      scheduler.breakSessions(new Set(pids));
      return pids.length;
    },
    crashes: (wallBase) => crashes.map((c) => ({ ...c, atMs: c.atMs - wallBase })),
    leaderOf: async (cluster) => {
      for (const inc of live) {
        if (inc === undefined) continue;
        const res = await inc.service.app.inject({ method: 'GET', url: '/api/v1/ha/clusters' });
        if (res.statusCode !== 200) continue;
        const leases = (JSON.parse(res.body) as { data?: Lease[] }).data ?? [];
        const lease = leases.find((l) => l.cluster === clusterName(cluster));
        return lease === undefined ? undefined : replicaIndex(lease.leader);
      }
      return undefined;
    },
    standbyOverflow: async () => {
      const out: number[] = [];
      for (const inc of live) {
        if (inc === undefined) continue;
        for (const v of (await inc.service.metrics.haStandbyOverflow.get()).values) {
          const c = clusterIndex(String(v.labels['cluster'] ?? ''));
          if (c !== undefined) out[c] = (out[c] ?? 0) + v.value;
        }
      }
      return Array.from({ length: out.length }, (_, c) => out[c] ?? 0);
    },
    readStored: () =>
      stopAll().then(() => readBack(async (storage) => {
        const out: StoredSample[] = [];
        for await (const s of storage.querySamples([{ type: 'EQ', name: '__name__', value: METRIC_NAME }], 0, Number.MAX_SAFE_INTEGER)) {
          const cluster = s.labels.find((l) => l.name === 'cluster')?.value ?? '';
          const series = s.labels.find((l) => l.name === 'series')?.value ?? '';
          for (const smp of s.samples) out.push({ cluster, series: `${cluster}/${series}`, t: smp.timestamp, value: smp.value });
        }
        return out;
      })),
    readHistory: (wallBase) =>
      readBack(async (storage) => {
        const rows = await storage.leases.history({ limit: 100_000 });
        return rows.flatMap((h): LeaderChange[] => {
          const cluster = clusterIndex(h.cluster);
          const leader = replicaIndex(h.newLeader);
          if (cluster === undefined || leader === undefined) return [];
          return [{ cluster, epoch: h.epoch, leader, start: h.newStart, atMs: h.wallTime - wallBase }];
        });
      }),
    close: stopAll,
  };
}
