/**
 * A worker's side of the primary/worker messages (workers.ts): it reports its readiness, learns whether every
 * worker is ready, hands its metrics to the primary's collections, asks the primary for the aggregated
 * `/metrics`, and shuts down when the primary asks or goes away.
 */
import cluster from 'node:cluster';
import type { Registry } from 'prom-client';
import { isMessage, type ToPrimary, type ToWorker } from './workers.js';

/** How often the worker checks whether its readiness changed (sent to the primary only on change). */
const REPORT_EVERY_MS = 250;
const EXPOSITION_TIMEOUT_MS = 5_000;

export interface WorkerLink {
  /** True while the primary says every worker is ready. */
  readonly allReady: () => boolean;
  /** The aggregated metrics of every worker and the primary. */
  readonly exposition: () => Promise<string>;
  /**
   * Starts reporting this worker's readiness, answering the primary's metrics collections from `registry`, and
   * calls `stop` when the primary asks for a shutdown or disappears.
   */
  attach(registry: Registry, ready: () => boolean, stop: (reason: string) => void): void;
}

function toPrimary(m: ToPrimary): void {
  // The channel closes when the primary is gone ('disconnect' handles that): a failed send needs nothing more.
  process.send?.(m, undefined, undefined, () => undefined);
}

/** The link when this process is a cluster worker; undefined otherwise. */
export function workerLink(): WorkerLink | undefined {
  if (!cluster.isWorker) return undefined;
  let allReady = false;
  let nextId = 1;
  const waiting = new Map<number, { ok: (text: string) => void; fail: (e: Error) => void }>();
  let registry: Registry | undefined;
  process.on('message', (m: unknown) => {
    if (!isMessage<ToWorker>(m)) return;
    switch (m.type) {
      case 'promha:all-ready':
        allReady = m.ready;
        return;
      case 'promha:exposition': {
        const w = waiting.get(m.id);
        waiting.delete(m.id);
        if (m.text !== undefined) w?.ok(m.text);
        else w?.fail(new Error(`metrics unavailable: ${m.error ?? 'no answer'}`));
        return;
      }
      case 'promha:collect':
        if (registry === undefined) return;
        registry.getMetricsAsJSON().then(
          (metrics) => toPrimary({ type: 'promha:collected', id: m.id, metrics }),
          () => undefined,
        );
        return;
      case 'promha:stop':
        // Handled by attach(): a worker that has not attached yet has nothing in flight.
        return;
    }
  });
  return {
    allReady: () => allReady,
    exposition: () =>
      new Promise((ok, fail) => {
        const id = nextId++;
        const t = setTimeout(() => {
          waiting.delete(id);
          fail(new Error('metrics unavailable: the primary process did not answer'));
        }, EXPOSITION_TIMEOUT_MS);
        waiting.set(id, {
          ok: (text) => {
            clearTimeout(t);
            ok(text);
          },
          fail: (e) => {
            clearTimeout(t);
            fail(e);
          },
        });
        toPrimary({ type: 'promha:exposition?', id });
      }),
    attach(reg, ready, stop) {
      registry = reg;
      let last: boolean | undefined;
      const report = (): void => {
        const now = ready();
        if (now !== last) toPrimary({ type: 'promha:ready', ready: now });
        last = now;
      };
      report();
      setInterval(report, REPORT_EVERY_MS).unref();
      process.on('message', (m: unknown) => {
        if (isMessage<ToWorker>(m) && m.type === 'promha:stop') stop('primary asked');
      });
      // The primary is gone (killed): nobody supervises this worker or hands it connections any more.
      process.on('disconnect', () => stop('primary process gone'));
    },
  };
}
