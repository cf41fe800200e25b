import fc from 'fast-check';
import { decodeWriteRequest } from '@promha/codec';
import { describe, expect, it } from 'vitest';
import { encodeBody } from './simulate.js';
import { decodeWriteRequestV1, encodeWriteRequestV1, snappyDecode, snappyLiteral } from './wire.js';

describe('wire', () => {
  it('round-trips series through protobuf and snappy', () => {
    const label = fc.record({
      name: fc.string({ minLength: 1, maxLength: 8 }),
      value: fc.string({ maxLength: 80 }),
    });
    const sample = fc.record({
      value: fc.double({ noNaN: true }),
      timestamp: fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
    });
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            labels: fc.array(label, { maxLength: 4 }),
            samples: fc.array(sample, { maxLength: 5 }),
          }),
          { maxLength: 30 },
        ),
        (series) => {
          const body = snappyLiteral(encodeWriteRequestV1(series));
          expect(decodeWriteRequestV1(snappyDecode(body, 1 << 24))).toEqual(series);
        },
      ),
      { seed: 11, numRuns: 100 },
    );
  });
  it('decodes snappy copies', () => {
    // "abcd" literal then copy-1 of length 8 at offset 4.
    const block = Uint8Array.of(12, 3 << 2, 97, 98, 99, 100, 1 | ((8 - 4) << 2), 4);
    expect(new TextDecoder().decode(snappyDecode(block, 100))).toBe('abcdabcdabcd');
    expect(() => snappyDecode(Uint8Array.of(200, 1), 100)).toThrow(/over 100/);
  });
});

describe('wire against @promha/codec', () => {
  it('codec decodes what the simulator encodes, and the simulator decodes what codec encodes', () => {
    const labels = fc.constantFrom('a', 'b', 'c').chain((v) =>
      fc.constant([
        { name: '__name__', value: 'm' },
        { name: 'cluster', value: v },
      ]),
    );
    const sample = fc.record({ value: fc.double({ noNaN: true }), timestamp: fc.integer({ min: 0, max: 2 ** 45 }) });
    fc.assert(
      fc.property(
        fc.array(fc.record({ labels, samples: fc.array(sample, { minLength: 1, maxLength: 40 }) }), { maxLength: 20 }),
        (series) => {
          const viaOwn = decodeWriteRequest(snappyLiteral(encodeWriteRequestV1(series)), {
            version: 1,
            maxDecodedBytes: 1 << 24,
          });
          expect(
            viaOwn.series.map((s) => ({
              labels: s.labels.map((l) => ({ ...l })),
              samples: s.samples.map((x) => ({ ...x })),
            })),
          ).toEqual(series);
          expect(decodeWriteRequestV1(snappyDecode(encodeBody(series), 1 << 24))).toEqual(series);
        },
      ),
      { seed: 12, numRuns: 100 },
    );
  });
});
