import type { Histogram } from '@promha/codec';

/**
 * Histograms are stored as jsonb. JSON has no NaN, no infinities and no -0, and a NaN's payload tells a stale
 * marker (0x7ff0000000000002) from a plain NaN, so every float that JSON cannot carry exactly is written as a
 * string: `"-0"`, `"Infinity"`, `"-Infinity"`, or `"nan:<16 hex digits>"` with the NaN's bits. `decodeHistogram`
 * restores them bit-exact. (Rows written before the NaN bits were kept hold `"NaN"`, read as the canonical NaN.)
 */
const f64 = new Float64Array(1);
const u64 = new BigUint64Array(f64.buffer);

function encodeFloat(v: number): number | string {
  if (Number.isFinite(v)) return Object.is(v, -0) ? '-0' : v;
  if (Number.isNaN(v)) {
    f64[0] = v;
    return `nan:${u64[0]!.toString(16).padStart(16, '0')}`;
  }
  return String(v);
}

function decodeFloat(v: unknown): number {
  if (typeof v === 'number') return v;
  if (typeof v === 'string') {
    if (v.startsWith('nan:')) {
      u64[0] = BigInt(`0x${v.slice(4)}`);
      return f64[0]!;
    }
    if (v === '-0') return -0;
    if (v === 'Infinity') return Infinity;
    if (v === '-Infinity') return -Infinity;
  }
  return NaN;
}

const FLOAT_FIELDS = ['count', 'zeroCount', 'sum', 'zeroThreshold'] as const;
const FLOAT_ARRAYS = ['negativeCounts', 'positiveCounts', 'customValues'] as const;

export function encodeHistogram(h: Histogram): string {
  const out: Record<string, unknown> = { ...h };
  for (const k of FLOAT_FIELDS) out[k] = encodeFloat(h[k]);
  for (const k of FLOAT_ARRAYS) out[k] = h[k].map(encodeFloat);
  return JSON.stringify(out);
}

export function decodeHistogram(json: unknown): Histogram {
  const h = json as Record<string, unknown>;
  const out: Record<string, unknown> = { ...h };
  for (const k of FLOAT_FIELDS) out[k] = decodeFloat(h[k]);
  for (const k of FLOAT_ARRAYS) out[k] = Array.isArray(h[k]) ? (h[k] as unknown[]).map(decodeFloat) : [];
  return out as unknown as Histogram;
}
