import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeFloat8Array, decodeInt8Array } from './copy-binary.js';
import { CHUNK_ROWS, DAY_MS } from './migrations.js';
import { encodeChunks, sortedOrder, type FlatSamples } from './chunks.js';

interface Chunk {
  batch: number;
  first: number;
  last: number;
  minT: number;
  maxT: number;
  series: number[];
  ts: number[];
  vs: Float64Array;
}

/** Parses the COPY binary stream the writer produces (8 fields per row). */
function parse(buf: Buffer): Chunk[] {
  expect(buf.subarray(0, 11).toString('latin1')).toBe('PGCOPY\n\xff\r\n\0');
  let p = 19;
  const rows: Chunk[] = [];
  for (;;) {
    const fields = buf.readInt16BE(p);
    p += 2;
    if (fields === -1) break;
    expect(fields).toBe(8);
    const ints: number[] = [];
    for (let i = 0; i < 5; i++) {
      expect(buf.readInt32BE(p)).toBe(8);
      ints.push(Number(buf.readBigInt64BE(p + 4)));
      p += 12;
    }
    const arr = (): Buffer => {
      const len = buf.readInt32BE(p);
      const b = buf.subarray(p + 4, p + 4 + len);
      p += 4 + len;
      return b;
    };
    const series = decodeInt8Array(arr());
    const ts = decodeInt8Array(arr());
    const vs = decodeFloat8Array(arr());
    rows.push({ batch: ints[0]!, first: ints[1]!, last: ints[2]!, minT: ints[3]!, maxT: ints[4]!, series, ts, vs });
  }
  expect(p).toBe(buf.length);
  return rows;
}

/** The writer's flat form of series' samples (what write() builds per part). */
function flat(entries: readonly { id: number; samples: readonly { timestamp: number; value: number }[] }[]): FlatSamples {
  const n = entries.length;
  const start = new Int32Array(n + 1);
  const total = entries.reduce((k, e) => k + e.samples.length, 0);
  const ts = new Float64Array(total);
  const vs = new Float64Array(total);
  let p = 0;
  entries.forEach((e, i) => {
    start[i] = p;
    for (const x of e.samples) {
      ts[p] = x.timestamp;
      vs[p++] = x.value;
    }
  });
  start[n] = p;
  return { n, ids: entries.map((e) => e.id), start, ts, vs };
}

describe('encodeChunks', () => {
  it('cuts chunks only at series boundaries (or within one long series), within a day, every sample once', () => {
    const entry = fc.record({
      id: fc.integer({ min: 1, max: 300 }),
      samples: fc.array(
        fc.record({ timestamp: fc.integer({ min: 0, max: 3 * DAY_MS }), value: fc.double() }),
        { minLength: 0, maxLength: 150 },
      ),
    });
    fc.assert(
      fc.property(fc.uniqueArray(entry, { selector: (e) => e.id, maxLength: 40 }), fc.boolean(), (entries, reuse) => {
        // Half the runs write over a dirty buffer left by an earlier encoding (as the writer reuses them).
        const spare = reuse ? new Uint8Array(64 + 40 * 3000).fill(0xa5) : undefined;
        const chunks = parse(encodeChunks((day) => day / DAY_MS + 7, flat(entries), spare).bytes);
        const seen: string[] = [];
        for (const c of chunks) {
          expect(c.batch).toBe(Math.floor(c.minT / DAY_MS) + 7);
          expect(c.series.length).toBeLessThanOrEqual(CHUNK_ROWS);
          expect(c.series[0]).toBe(c.first);
          expect(c.series[c.series.length - 1]).toBe(c.last);
          for (let i = 1; i < c.series.length; i++) expect(c.series[i]!).toBeGreaterThanOrEqual(c.series[i - 1]!);
          expect(Math.floor(c.minT / DAY_MS)).toBe(Math.floor(c.maxT / DAY_MS));
          c.series.forEach((s, i) => seen.push(`${s}@${c.ts[i]}=${c.vs[i]}`));
        }
        // A series inside a chunk (not at its edges) is not in any other chunk of the same day: reads rely on it.
        for (const c of chunks) {
          for (const s of new Set(c.series)) {
            if (s === c.first || s === c.last) continue;
            const elsewhere = chunks.filter((o) => o !== c && o.minT - (o.minT % DAY_MS) === c.minT - (c.minT % DAY_MS) && o.series.includes(s));
            expect(elsewhere).toEqual([]);
          }
        }
        const expected = entries.flatMap((e) => e.samples.map((x) => `${e.id}@${x.timestamp}=${x.value}`));
        expect(seen.sort()).toEqual(expected.sort());
      }),
      { numRuns: 100 },
    );
  });
});

describe('sortedOrder', () => {
  it('orders positions by id, ties in input order (radix sort, and the comparator fallback for ids past 2^32)', () => {
    const id = fc.oneof(fc.integer({ min: 0, max: 50 }), fc.integer({ min: 0, max: 2 ** 32 - 1 }), fc.integer({ min: 2 ** 32, max: 2 ** 40 }));
    fc.assert(
      fc.property(fc.array(id, { maxLength: 3000 }), (ids) => {
        const order = sortedOrder(ids, ids.length);
        const positions = order === undefined ? ids.map((_, i) => i) : [...order.subarray(0, ids.length)];
        expect([...positions].sort((a, b) => a - b)).toEqual(ids.map((_, i) => i));
        for (let k = 1; k < positions.length; k++) {
          const [a, b] = [positions[k - 1]!, positions[k]!];
          expect(ids[b]! > ids[a]! || (ids[b] === ids[a] && b > a)).toBe(true);
        }
        if (order === undefined) for (let k = 1; k < ids.length; k++) expect(ids[k]!).toBeGreaterThanOrEqual(ids[k - 1]!);
      }),
      { numRuns: 200 },
    );
  });
});
