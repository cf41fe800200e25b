import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeWriteRequest, encodeWriteRequest, peekWriteRequest, snappyCompress, type PeekGroup, type TimeSeries, type WriteRequest } from './index.js';
import { compareCodePoints } from './internal/strings.js';
import { propertySeed, requestV1, requestV2 } from './test-util/arbitraries.js';

const MAX = 64 << 20;
const LABELS = ['cluster', '__replica__'] as const;

/** What the peek must find, computed from the decoded model: the specification. */
function expectedGroups(series: readonly TimeSeries[]): PeekGroup[] {
  const groups: (PeekGroup & { values: [string | undefined, string | undefined] })[] = [];
  series.forEach((s, i) => {
    const value = (name: string): string | undefined => {
      const v = s.labels.find((l) => l.name === name)?.value;
      return v === '' ? undefined : v;
    };
    const values: [string | undefined, string | undefined] = [value(LABELS[0]), value(LABELS[1])];
    let g = groups.find((x) => x.values[0] === values[0] && x.values[1] === values[1]);
    if (g === undefined) {
      g = { values, firstSeries: i, series: 0, samples: 0, histograms: 0, exemplars: 0, minTime: Infinity, maxTime: -Infinity };
      groups.push(g);
    }
    const times = [...s.samples, ...s.histograms, ...s.exemplars].map((x) => x.timestamp);
    Object.assign(g, {
      series: g.series + 1,
      samples: g.samples + s.samples.length,
      histograms: g.histograms + s.histograms.length,
      exemplars: g.exemplars + s.exemplars.length,
      minTime: Math.min(g.minTime, ...times),
      maxTime: Math.max(g.maxTime, ...times),
    });
  });
  return groups;
}

/** Gives each series HA labels drawn from a small set (absent, empty or one of two values), keeping labels sorted. */
function withHa(req: WriteRequest, picks: readonly (readonly [string | undefined, string | undefined])[]): WriteRequest {
  return {
    ...req,
    series: req.series.map((s, i) => {
      const [c, r] = picks[i % Math.max(1, picks.length)] ?? [undefined, undefined];
      const labels = s.labels.filter((l) => l.name !== LABELS[0] && l.name !== LABELS[1]);
      if (c !== undefined) labels.push({ name: LABELS[0], value: c });
      if (r !== undefined) labels.push({ name: LABELS[1], value: r });
      return { ...s, labels: labels.sort((a, b) => compareCodePoints(a.name, b.name)) };
    }),
  };
}

const value = fc.constantFrom(undefined, '', 'a', 'b', 'ünï');
const picks = fc.array(fc.tuple(value, value), { minLength: 1, maxLength: 4 });

describe('peekWriteRequest', () => {
  for (const [version, arb] of [
    [1, requestV1],
    [2, requestV2],
  ] as const) {
    it(`${version}.0: groups, counts and time ranges equal those of the decoded request; decode() is the full decode`, () => {
      const seed = propertySeed(`peek v${version}`);
      fc.assert(
        fc.property(arb, picks, (raw, p) => {
          const req = withHa(raw, p);
          const body = snappyCompress(encodeWriteRequest(req, version));
          const peek = peekWriteRequest(body, { version, maxDecodedBytes: MAX, labels: LABELS });
          expect(peek.groups).toEqual(expectedGroups(req.series));
          expect(peek.metadata).toBe(req.metadata.length);
          // decode() is decodeWriteRequest on the same bytes: the same request, or the same error (the write limits).
          let full: unknown;
          try {
            full = decodeWriteRequest(body, { version, maxDecodedBytes: MAX });
          } catch (e: unknown) {
            full = e;
          }
          if (full instanceof Error) expect(() => peek.decode()).toThrow(full.message);
          else expect(peek.decode()).toEqual(req);
          expect(peek.written).toEqual({
            samples: req.series.reduce((n, s) => n + s.samples.length, 0),
            histograms: req.series.reduce((n, s) => n + s.histograms.length, 0),
            exemplars: req.series.reduce((n, s) => n + s.exemplars.length, 0),
          });
        }),
        { seed, numRuns: 200 },
      );
    });

    it(`${version}.0: malformed bytes are a CodecError (400), never another exception`, () => {
      const seed = propertySeed(`peek garbage v${version}`);
      fc.assert(
        fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
          try {
            peekWriteRequest(snappyCompress(bytes), { version, maxDecodedBytes: MAX, labels: LABELS });
          } catch (e: unknown) {
            expect((e as { status?: number }).status).toBe(400);
          }
        }),
        { seed, numRuns: 300 },
      );
    });
  }

  it('does not read the other labels: an unsorted label set passes the peek and fails the full decode', () => {
    const body = Buffer.from(
      // series { labels: [{b, 1}, {a, 1}], sample }: names out of order.
      [0x0a, 0x1d, 0x0a, 0x06, 0x0a, 0x01, 0x62, 0x12, 0x01, 0x31, 0x0a, 0x06, 0x0a, 0x01, 0x61, 0x12, 0x01, 0x31]
        .concat([0x12, 0x0b, 0x09, 0, 0, 0, 0, 0, 0, 0, 0, 0x10, 0x01]),
    );
    const peek = peekWriteRequest(snappyCompress(body), { version: 1, maxDecodedBytes: MAX, labels: LABELS });
    expect(peek.groups).toHaveLength(1);
    expect(() => peek.decode()).toThrow(/not sorted/);
  });
});
