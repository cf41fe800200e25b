/**
 * The benchmark harness behind `npm run bench`. A benchmark measures a candidate and its baseline in the same
 * run (same process, same machine load) and reports their ratio; absolute numbers on a shared 2-core machine
 * are noise, ratios much less so.
 *
 * Output contract: one JSON object per measurement on stdout,
 * `{"bench","value","unit","baseline","baselineValue","ratio"}`, and a readable table on stderr.
 */

/** One measurement of a benchmark. `ratio` is value / baselineValue for rates, baselineValue / value for costs. */
export interface Measurement {
  readonly bench: string;
  readonly value: number;
  readonly unit: string;
  readonly baseline: string;
  readonly baselineValue: number;
  readonly ratio: number;
}

/** A benchmark module: `run` yields its measurements as it finishes them. */
export interface Bench {
  /** Dotted name; `npm run bench -- NAME` runs every bench whose name starts with NAME. */
  readonly name: string;
  readonly run: () => AsyncIterable<Measurement>;
}

/** Higher is better for these units; lower is better for the rest (ms, bytes, cpu-s/M). */
const RATE_UNITS = new Set(['samples/s', 'series/s', 'rows/s', 'requests/s', 'ops/s']);

export function isRate(unit: string): boolean {
  return RATE_UNITS.has(unit);
}

/** Builds a measurement with the ratio oriented so that > 1 means "better than the baseline". */
export function measurement(
  bench: string,
  unit: string,
  value: number,
  baseline: string,
  baselineValue: number,
): Measurement {
  const ratio = isRate(unit) ? value / baselineValue : baselineValue / value;
  return { bench, value: round(value), unit, baseline, baselineValue: round(baselineValue), ratio: round(ratio, 2) };
}

function round(x: number, digits = 3): number {
  if (!Number.isFinite(x)) return x;
  if (Math.abs(x) >= 1000) return Math.round(x);
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

/**
 * Runs `fn` repeatedly for at least `minMs` after `warmupMs` of warm-up, alternating with nothing else, and
 * returns the median of per-round rates in operations per second, where one call of `fn` counts `opsPerCall`.
 * Candidate and baseline should be measured with `interleave` so drift in machine load hits both.
 */
export async function rate(
  fn: () => unknown,
  opsPerCall: number,
  options: { readonly rounds?: number; readonly minRoundMs?: number } = {},
): Promise<number> {
  const rounds = options.rounds ?? 7;
  const minRoundMs = options.minRoundMs ?? 200;
  const rates: number[] = [];
  for (let r = 0; r < rounds + 1; r++) {
    let calls = 0;
    const t0 = process.hrtime.bigint();
    let elapsedMs = 0;
    while (elapsedMs < minRoundMs) {
      const out = fn();
      if (out instanceof Promise) await out;
      calls++;
      elapsedMs = Number(process.hrtime.bigint() - t0) / 1e6;
    }
    if (r > 0) rates.push((calls * opsPerCall) / (elapsedMs / 1000)); // round 0 is warm-up
  }
  return median(rates);
}

/**
 * Measures two functions in alternating rounds (A, B, A, B, ...) and returns the median rate of each, so that
 * machine noise affects both alike.
 */
export async function interleave(
  a: () => unknown,
  b: () => unknown,
  opsPerCall: number,
  options: { readonly rounds?: number; readonly minRoundMs?: number } = {},
): Promise<{ readonly a: number; readonly b: number }> {
  const rounds = options.rounds ?? 7;
  const ra: number[] = [];
  const rb: number[] = [];
  for (let r = 0; r < rounds + 1; r++) {
    const x = await rate(a, opsPerCall, { rounds: 1, minRoundMs: options.minRoundMs ?? 200 });
    const y = await rate(b, opsPerCall, { rounds: 1, minRoundMs: options.minRoundMs ?? 200 });
    if (r > 0) {
      ra.push(x);
      rb.push(y);
    }
  }
  return { a: median(ra), b: median(rb) };
}

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((x, y) => x - y);
  const mid = s.length >> 1;
  if (s.length === 0) return NaN;
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}
