const UNIT_MS: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/**
 * Parses a Prometheus-style duration (`25s`, `1m30s`, `500ms`) as the service's flags accept them, into
 * milliseconds. Throws on anything else so that a malformed manifest value fails the check instead of passing it.
 */
export function parseDurationMs(raw: string): number {
  const s = raw.trim();
  if (s === '0') return 0;
  const re = /(\d+)(ms|s|m|h|d)/gy;
  let total = 0;
  let end = 0;
  for (let m = re.exec(s); m !== null; m = re.exec(s)) {
    total += Number(m[1]) * UNIT_MS[m[2]!]!;
    end = re.lastIndex;
  }
  if (s.length === 0 || end !== s.length) throw new Error(`"${raw}" is not a duration (e.g. 25s, 1m30s)`);
  return total;
}
