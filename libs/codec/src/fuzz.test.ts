import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CodecError, decodeReadRequest, decodeWriteRequest, decodeWriteRequestProto, encodeWriteRequest, snappyCompress, snappyUncompress } from './index.js';
import { propertySeed, requestV1, requestV2 } from './test-util/arbitraries.js';

const LIMIT = 1 << 20;

/** Runs `fn`; passes when it returns or throws a CodecError, fails on any other exception. */
function onlyCodecErrors(fn: () => unknown): void {
  try {
    fn();
  } catch (e: unknown) {
    if (!(e instanceof CodecError)) throw e;
    expect([400, 413]).toContain(e.status);
  }
}

const mutation = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }),
);

function mutate(bytes: Uint8Array, muts: readonly fc.Arbitrary<never>[] | readonly { kind: string; at: number; value?: number }[]): Uint8Array {
  let b = Array.from(bytes);
  for (const m of muts as readonly { kind: string; at: number; value?: number }[]) {
    if (b.length === 0) break;
    const at = m.at % b.length;
    if (m.kind === 'flip') b[at] = m.value!;
    else if (m.kind === 'truncate') b = b.slice(0, at);
    else b.splice(at, 0, m.value!);
  }
  return Uint8Array.from(b);
}

describe('fuzz: only CodecError, never another exception', () => {
  it('random bytes as snappy bodies and as protobuf, both versions, and as remote-read requests', () => {
    const seed = propertySeed('fuzz random');
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
        for (const version of [1, 2] as const) {
          onlyCodecErrors(() => decodeWriteRequest(bytes, { version, maxDecodedBytes: LIMIT }));
          onlyCodecErrors(() => decodeWriteRequestProto(bytes, version));
        }
        onlyCodecErrors(() => decodeReadRequest(bytes, { maxDecodedBytes: LIMIT }));
        onlyCodecErrors(() => snappyUncompress(bytes, LIMIT));
      }),
      { seed, numRuns: 1000 },
    );
  });

  it('mutated valid requests (snappy bodies and raw protobuf)', () => {
    const seed = propertySeed('fuzz mutations');
    fc.assert(
      fc.property(fc.oneof(requestV1, requestV2), fc.array(mutation, { minLength: 1, maxLength: 4 }), (req, muts) => {
        const raw = encodeWriteRequest(req, req.version);
        const body = snappyCompress(raw);
        for (const version of [1, 2] as const) {
          onlyCodecErrors(() => decodeWriteRequest(mutate(body, muts), { version, maxDecodedBytes: LIMIT }));
          onlyCodecErrors(() => decodeWriteRequestProto(mutate(raw, muts), version));
        }
      }),
      { seed, numRuns: 400 },
    );
  });

  it('a 6-byte body declaring 4 GiB is refused with 413 before allocating', () => {
    let caught: unknown;
    try {
      decodeWriteRequest(Uint8Array.of(0xff, 0xff, 0xff, 0xff, 0x0f, 0x00), { version: 1, maxDecodedBytes: 64 << 20 });
    } catch (e: unknown) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(CodecError);
    expect((caught as CodecError).status).toBe(413);
  });
});
