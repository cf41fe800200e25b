import { describe, expect, it } from 'vitest';
import { ENTRY_OVERHEAD_BYTES, StandbyBuffer, type BufferedGroup } from './standby-buffer.js';

const body = (n: number, bytes = 100): Buffer => Buffer.alloc(bytes, n);
const group = (replica: string, minTime: number, maxTime: number, samples = 10, cluster = 'c'): BufferedGroup => ({
  cluster,
  replica,
  minTime,
  maxTime,
  samples,
});
const entry = (bytes = 100): number => bytes + ENTRY_OVERHEAD_BYTES;

describe('StandbyBuffer (docs/design.md rule 11)', () => {
  it('gives back a replica’s requests with data at or after the splice point, oldest first, then forgets the group', () => {
    const b = new StandbyBuffer(1 << 20, 40_000);
    for (let i = 0; i < 5; i++) b.add({ body: body(i), contentType: undefined }, [group('b', i * 1000, i * 1000 + 999)]);
    b.add({ body: body(9), contentType: 'x' }, [group('z', 0, 999)]);
    expect(b.samples()).toBe(60);
    const got = b.take('c', 'b', 2_500);
    expect(got.map((g) => g.body[0])).toEqual([2, 3, 4]);
    expect(got[0]?.group).toEqual(group('b', 2000, 2999));
    expect(b.samples()).toBe(30);
    // The older ones stay for a takeover with an earlier splice point (an epoch learnt later), then are gone too.
    expect(b.take('c', 'b', 0).map((g) => g.body[0])).toEqual([0, 1]);
    expect(b.take('c', 'b', 0)).toEqual([]);
    // Entries more than the window older than the splice go at once.
    b.add({ body: body(5), contentType: undefined }, [group('b', 0, 999)]);
    expect(b.take('c', 'b', 50_000)).toEqual([]);
    expect(b.take('c', 'b', 0)).toEqual([]);
    // Another replica's group stays; the bytes of b's entries are freed.
    expect(b.samples()).toBe(10);
    expect(b.bytes()).toBe(entry());
  });

  it('ages entries out by data time per group, relative to that group’s newest data, without counting overflow', () => {
    const overflow: number[] = [];
    const b = new StandbyBuffer(1 << 20, 10_000, { overflow: (_c, n) => overflow.push(n) });
    b.add({ body: body(1), contentType: undefined }, [group('b', 0, 1_000)]);
    b.add({ body: body(2), contentType: undefined }, [group('y', 0, 1_000)]);
    b.add({ body: body(3), contentType: undefined }, [group('b', 11_001, 11_001)]);
    // b's first entry ended more than the window (10,000 ms) before b's newest: gone. y's, with older data, stays (its own clock).
    expect(b.take('c', 'b', 0).map((g) => g.body[0])).toEqual([3]);
    expect(b.take('c', 'y', 0).map((g) => g.body[0])).toEqual([2]);
    expect(overflow).toEqual([]);
  });

  it('over its byte bound drops the oldest entries first and counts their samples as overflow', () => {
    const overflow: [string, number][] = [];
    const b = new StandbyBuffer(3 * entry(), 1e9, { overflow: (c, n) => overflow.push([c, n]) });
    for (let i = 0; i < 5; i++) b.add({ body: body(i), contentType: undefined }, [group('b', i, i, i + 1)]);
    expect(b.bytes()).toBe(3 * entry());
    expect(overflow).toEqual([
      ['c', 1],
      ['c', 2],
    ]);
    expect(b.take('c', 'b', 0).map((g) => g.body[0])).toEqual([2, 3, 4]);
    // A request larger than the whole bound is not kept at all, and counted.
    b.add({ body: body(7, 4 * entry()), contentType: undefined }, [group('b', 9, 9, 50)]);
    expect(overflow.at(-1)).toEqual(['c', 50]);
    expect(b.bytes()).toBe(0);
  });

  it('keeps a copy of a body that is a view into a larger allocation, so the allocation is not held', () => {
    const b = new StandbyBuffer(1 << 20, 1e9);
    const chunk = Buffer.alloc(64 * 1024, 7);
    b.add({ body: chunk.subarray(100, 200), contentType: undefined }, [group('b', 0, 0)]);
    const [got] = b.take('c', 'b', 0);
    expect(got?.body.equals(chunk.subarray(100, 200))).toBe(true);
    expect(got?.body.buffer.byteLength).toBe(100);
  });

  it('shares one body between the groups of a request; freed when the last group leaves', () => {
    const b = new StandbyBuffer(1 << 20, 1e9);
    b.add({ body: body(1), contentType: undefined }, [group('b', 0, 0), group('b', 0, 0, 10, 'd')]);
    expect(b.bytes()).toBe(entry());
    expect(b.take('c', 'b', 0)).toHaveLength(1);
    expect(b.bytes()).toBe(entry());
    expect(b.take('d', 'b', 0)).toHaveLength(1);
    expect(b.bytes()).toBe(0);
  });
});
