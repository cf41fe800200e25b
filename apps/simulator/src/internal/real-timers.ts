import { performance } from 'node:perf_hooks';
import type { Timers } from './replica.js';

/** Sim time on the process's monotonic clock; used only by the CLI and integration tests. */
export function realTimers(): Timers {
  const start = performance.now();
  return {
    now: () => performance.now() - start,
    after: (ms, fn) => {
      const h = setTimeout(fn, Math.max(0, ms));
      return () => clearTimeout(h);
    },
  };
}
