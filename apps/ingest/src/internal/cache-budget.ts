/**
 * How big the in-process caches may grow, from one memory target (`--cache.memory-target`), and how big a worker's
 * JavaScript heap must be to hold them.
 *
 * Every instance (each worker of `--workers`) keeps its own caches, and over time each receives every series (the
 * primary hands connections out in turn and a sender's requests spread over its connections), so the target is
 * shared out evenly between the instances. A cache bound that the V8 heap cannot hold does not evict: the process
 * dies out of memory. So a worker is started with a heap large enough for its share, and the one instance of
 * `--workers 1`, whose heap was fixed before any flag was read, gets no more series than its heap holds.
 */
import { totalmem } from 'node:os';
import { getHeapStatistics } from 'node:v8';

/**
 * Resident memory per cached stored series, 10 labels, everything the ingest keeps for it: the series cache entry,
 * the decoder's label set (key bytes, frozen array, labels) and the election's stripped copy, plus the garbage
 * collector's headroom. Measured with `npm run bench -- series` (one worker, 50,000 series per replica: 2,518
 * bytes of RSS more per stored series), rounded up.
 */
export const BYTES_PER_SERIES = 2_600;

/** Heap a worker needs besides its caches: requests in flight, the pool, Fastify. */
export const HEAP_BASE_BYTES = 512 * 2 ** 20;

/** Fewest series a derived bound allows, whatever the memory (a test machine's, a tight container's). */
export const MIN_SERIES = 10_000;

/** `--cache.memory-target`: an absolute size, or a share of the memory this process may use. */
export type MemoryTarget = { readonly bytes: number } | { readonly percent: number };

/** The memory the caches are planned against: the machine's, or the control group's limit when that is lower. */
export function memoryAvailable(): number {
  const total = totalmem();
  const limit = process.constrainedMemory?.() ?? 0;
  return limit > 0 && limit < total ? limit : total;
}

/** This process's V8 heap limit (what `--max-old-space-size` set, or V8's default for this machine). */
export function heapLimit(): number {
  return getHeapStatistics().heap_size_limit;
}

/** The flags the plan reads (a `Config` is one). */
export interface CacheInputs {
  readonly cacheMemoryTarget: MemoryTarget;
  /** `--cache.series-max` when given: it wins over the target. */
  readonly seriesCacheMax: number | undefined;
  /** `--cache.label-sets-max` when given. */
  readonly labelSetCacheMax: number | undefined;
  readonly workers: number;
}

export interface CachePlan {
  /** Bytes of the target that are this instance's. */
  readonly budgetBytes: number;
  readonly seriesMax: number;
  readonly labelSetsMax: number;
  /** The JavaScript heap the caches need, in MiB: what a worker is started with (`--max-old-space-size`). */
  readonly heapMiB: number;
}

/** The bound a budget buys (never below {@link MIN_SERIES}). */
function seriesFor(bytes: number): number {
  return Math.max(MIN_SERIES, Math.floor(bytes / BYTES_PER_SERIES));
}

/**
 * The caches of one instance. `heapLimitBytes` is the heap this instance will have; pass `undefined` for a worker
 * not started yet (its heap is then sized from the plan). A bound derived from the target is cut to what that
 * heap holds; a bound given by flag is kept (the operator asked for it, and {@link heapShortfall} says whether the
 * heap holds it).
 */
export function planCaches(inputs: CacheInputs, memoryBytes: number, heapLimitBytes: number | undefined): CachePlan {
  const total = 'bytes' in inputs.cacheMemoryTarget ? inputs.cacheMemoryTarget.bytes : Math.floor((memoryBytes * inputs.cacheMemoryTarget.percent) / 100);
  const budgetBytes = Math.floor(total / Math.max(1, inputs.workers));
  let seriesMax = inputs.seriesCacheMax ?? seriesFor(budgetBytes);
  if (inputs.seriesCacheMax === undefined && heapLimitBytes !== undefined) {
    seriesMax = Math.min(seriesMax, seriesFor(heapLimitBytes - HEAP_BASE_BYTES));
  }
  // An HA pair sends two label sets per stored series; the decoder keeps what it decodes (the leader's, and both
  // replicas' when HA is off or a replica's data is kept), within this bound.
  const labelSetsMax = inputs.labelSetCacheMax ?? 2 * seriesMax;
  const heapMiB = Math.ceil((seriesMax * BYTES_PER_SERIES + HEAP_BASE_BYTES) / 2 ** 20);
  return { budgetBytes, seriesMax, labelSetsMax, heapMiB };
}

/** Bytes by which the caches' estimate exceeds the heap, or 0 when it fits. */
export function heapShortfall(plan: CachePlan, heapLimitBytes: number): number {
  return Math.max(0, plan.heapMiB * 2 ** 20 - heapLimitBytes);
}

/** True when the process was started with its own heap limit (command line or NODE_OPTIONS): it is kept. */
export function heapLimitGiven(execArgv: readonly string[], nodeOptions: string | undefined): boolean {
  return nodeFlagGiven('max-old-space-size', execArgv, nodeOptions);
}

/**
 * The young generation's semi-space, in MiB, that the primary gives each worker (`--max-semi-space-size`). Node's
 * default (16) has a worker collect its young generation every few requests, while requests are in flight: their
 * objects survive, get promoted, and the old generation then needs full collections. At 64 the vm bench's single
 * process used 0.69-0.88x the CPU per sample (docs/decisions/0004-ingest-throughput.md, fifth pass). Costs up to
 * 3 x 64 MiB of memory per worker.
 */
export const WORKER_SEMI_SPACE_MIB = 64;

/** The V8 options the primary adds to every worker's: the heap its caches need and the young generation's size. */
export function workerNodeFlags(heapMiB: number, execArgv: readonly string[], nodeOptions: string | undefined): string[] {
  const flags: string[] = [];
  if (!heapLimitGiven(execArgv, nodeOptions)) flags.push(`--max-old-space-size=${heapMiB}`);
  if (!nodeFlagGiven('max-semi-space-size', execArgv, nodeOptions)) flags.push(`--max-semi-space-size=${WORKER_SEMI_SPACE_MIB}`);
  return flags;
}

/** True when `flag` (dashes or underscores) was given on the command line or in NODE_OPTIONS. */
function nodeFlagGiven(flag: string, execArgv: readonly string[], nodeOptions: string | undefined): boolean {
  const pattern = new RegExp(`--${flag.replaceAll('-', '[-_]')}`);
  return execArgv.some((s) => pattern.test(s)) || pattern.test(nodeOptions ?? '');
}

/** Parses `--cache.memory-target`: `60%` (of {@link memoryAvailable}) or a size via `parseSize`. */
export function parseMemoryTarget(raw: string, parseSize: (raw: string) => number): MemoryTarget {
  const m = /^\s*(\d+(?:\.\d+)?)\s*%\s*$/.exec(raw);
  if (m !== null) {
    const percent = Number(m[1]);
    if (percent <= 0 || percent > 100) throw new Error(`"${raw}" must be a share between 0% and 100%`);
    return { percent };
  }
  const bytes = parseSize(raw);
  if (bytes <= 0) throw new Error(`"${raw}" must be greater than zero`);
  return { bytes };
}
