import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeWriteRequestProto, encodeWriteRequest, snappyCompress, snappyUncompress } from './index.js';
import { propertySeed, requestV1, requestV2 } from './test-util/arbitraries.js';
import { io, oracleDecodeV1, oracleDecodeV2, prometheus, toOracleV1, toOracleV2 } from './test-util/oracle.js';

const MAX = 64 << 20;
const same = (a: Uint8Array, b: Uint8Array) => Buffer.from(a).equals(Buffer.from(b));

describe('round trip properties', () => {
  for (const [version, arb] of [
    [1, requestV1],
    [2, requestV2],
  ] as const) {
    it(`${version}.0: decode(encode(r)) = r, and re-encoding gives the same bytes (NaN payloads, -0 included)`, () => {
      const seed = propertySeed(`roundtrip v${version}`);
      fc.assert(
        fc.property(arb, (req) => {
          const bytes = encodeWriteRequest(req, version);
          // The wire format itself: timestamps up to MAX_SAFE_INTEGER (the storable range is checked by the limits).
          const decoded = decodeWriteRequestProto(snappyUncompress(snappyCompress(bytes), MAX), version);
          expect(decoded).toEqual(req);
          expect(same(encodeWriteRequest(decoded, version), bytes)).toBe(true);
        }),
        { seed, numRuns: 150 },
      );
    });
  }
});

describe('cross-check against protobufjs (generated static code)', () => {
  it('1.0: same bytes as protobufjs encodes, same request as protobufjs decodes', () => {
    const seed = propertySeed('oracle v1');
    fc.assert(
      fc.property(requestV1, (req) => {
        const ours = encodeWriteRequest(req, 1);
        expect(same(ours, prometheus.WriteRequest.encode(toOracleV1(req)).finish())).toBe(true);
        expect(decodeWriteRequestProto(ours, 1)).toEqual(oracleDecodeV1(ours));
      }),
      { seed, numRuns: 100 },
    );
  });

  it('2.0: same bytes as protobufjs encodes, same request as protobufjs decodes', () => {
    const seed = propertySeed('oracle v2');
    fc.assert(
      fc.property(requestV2, (req) => {
        const ours = encodeWriteRequest(req, 2);
        expect(same(ours, io.prometheus.write.v2.Request.encode(toOracleV2(req)).finish())).toBe(true);
        expect(decodeWriteRequestProto(ours, 2)).toEqual(oracleDecodeV2(ours));
      }),
      { seed, numRuns: 100 },
    );
  });

  it('the same seed generates the same requests', () => {
    const draw = (seed: number) => fc.sample(requestV2, { seed, numRuns: 5 });
    const a = draw(42);
    expect(encodeWriteRequest(a[4]!, 2)).toEqual(encodeWriteRequest(draw(42)[4]!, 2));
  });
});
