import type { Histogram } from '@promha/codec';

/**
 * Histograms are stored as jsonb. JSON has no NaN/Inf: non-finite numbers are written as strings and restored by
 * `decodeHistogram`.
 */
export function encodeHistogram(h: Histogram): string {
  return JSON.stringify(h, (_k, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? String(v) : v));
}

export function decodeHistogram(json: unknown): Histogram {
  const fix = (v: unknown): unknown => (v === 'NaN' ? NaN : v === 'Infinity' ? Infinity : v === '-Infinity' ? -Infinity : v);
  const h = json as Record<string, unknown>;
  return { ...(h as unknown as Histogram), sum: fix(h['sum']) as number, zeroThreshold: fix(h['zeroThreshold']) as number, count: fix(h['count']) as number };
}
