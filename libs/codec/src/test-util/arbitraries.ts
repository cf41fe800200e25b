/** fast-check arbitraries for remote-write requests, shared by the property and fuzz tests (test-only). */
import fc from 'fast-check';
import { compareCodePoints } from '../internal/strings.js';
import { MAX_TIMESTAMP_MS, MIN_TIMESTAMP_MS } from '../limits.js';
import type { Exemplar, Histogram, Label, MetricMetadata, MetricType, Sample, TimeSeries, WriteRequest } from '../model.js';

/** One seed per run, printed so a failure can be replayed with PROMHA_FC_SEED=<seed>. */
export function propertySeed(name: string): number {
  const seed = process.env.PROMHA_FC_SEED === undefined ? (Date.now() ^ (process.pid << 8)) >>> 1 : Number(process.env.PROMHA_FC_SEED);
  console.log(`[${name}] fast-check seed ${seed} (replay with PROMHA_FC_SEED=${seed})`);
  return seed;
}

const f64 = new Float64Array(1);
const u32 = new Uint32Array(f64.buffer);

/** Doubles including -0, infinities, subnormals, the stale marker and NaNs with arbitrary payloads. */
export const oddDouble: fc.Arbitrary<number> = fc.oneof(
  fc.double(),
  fc.constantFrom(-0, 0, Infinity, -Infinity, Number.MIN_VALUE, -Number.MIN_VALUE, 2.2250738585072e-308),
  fc.tuple(fc.integer({ min: 1, max: 0xfffff }), fc.nat(), fc.boolean()).map(([hi, lo, neg]) => {
    u32[0] = lo >>> 0;
    u32[1] = ((neg ? 0xfff00000 : 0x7ff00000) | hi) >>> 0;
    return f64[0]!;
  }),
  fc.constant(0).map(() => {
    u32[0] = 2;
    u32[1] = 0x7ff00000; // stale marker
    return f64[0]!;
  }),
);

/**
 * Doubles for bucket-count arrays: no NaN payloads. V8 canonicalizes NaNs stored in number arrays, so only scalar
 * fields (sample values, histogram count/sum/zero fields, exemplar values) keep NaN payloads bit-exact; stale markers
 * live in those.
 */
const arrayDouble: fc.Arbitrary<number> = fc.oneof(
  fc.double(),
  fc.constantFrom(-0, 0, Infinity, -Infinity, Number.MIN_VALUE, NaN),
);

const text = fc.string({ unit: 'binary', maxLength: 12 }).filter((s) => !s.includes('\u0000'));
const labelName = fc.oneof(fc.stringMatching(/^[a-zA-Z_][a-zA-Z0-9_]{0,12}$/), text.filter((s) => s.length > 0));
const labelValue = fc.oneof(fc.stringMatching(/^[a-z0-9.:/_-]{0,20}$/), text);
const timestamp = fc.oneof(
  fc.integer({ min: 1_600_000_000_000, max: 1_800_000_000_000 }),
  fc.maxSafeInteger(),
  fc.constant(0),
  fc.constantFrom(MIN_TIMESTAMP_MS, MAX_TIMESTAMP_MS, MIN_TIMESTAMP_MS - 1, MAX_TIMESTAMP_MS + 1),
);

export const labels: fc.Arbitrary<Label[]> = fc
  .tuple(labelValue.filter((v) => v.length > 0), fc.uniqueArray(fc.tuple(labelName, labelValue), { maxLength: 6, selector: ([n]) => n }))
  .map(([metric, rest]) =>
    [{ name: '__name__', value: metric }, ...rest.filter(([n]) => n !== '__name__').map(([name, value]) => ({ name, value }))].sort((a, b) =>
      compareCodePoints(a.name, b.name),
    ),
  );

const exemplarLabels: fc.Arbitrary<Label[]> = fc
  .uniqueArray(fc.tuple(labelName, labelValue), { maxLength: 2, selector: ([n]) => n })
  .map((xs) => xs.map(([name, value]) => ({ name, value })));

const sample: fc.Arbitrary<Sample> = fc.record({ value: oddDouble, timestamp });
const exemplar: fc.Arbitrary<Exemplar> = fc.record({ labels: exemplarLabels, value: oddDouble, timestamp });
const span = fc.record({ offset: fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }), length: fc.nat({ max: 2 ** 32 - 1 }) });
const safeInt = fc.oneof(fc.integer({ min: -1000, max: 1000 }), fc.maxSafeInteger());
const natSafe = fc.oneof(fc.nat({ max: 1000 }), fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }));

export const histogram: fc.Arbitrary<Histogram> = fc.boolean().chain((isFloat) =>
  fc.record({
    isFloat: fc.constant(isFloat),
    count: isFloat ? oddDouble : natSafe,
    zeroCount: isFloat ? oddDouble : natSafe,
    sum: oddDouble,
    schema: fc.oneof(fc.integer({ min: -4, max: 8 }), fc.constant(-53)),
    zeroThreshold: oddDouble,
    negativeSpans: fc.array(span, { maxLength: 2 }),
    negativeDeltas: isFloat ? fc.constant([]) : fc.array(safeInt, { maxLength: 3 }),
    negativeCounts: isFloat ? fc.array(arrayDouble, { maxLength: 3 }) : fc.constant([]),
    positiveSpans: fc.array(span, { maxLength: 2 }),
    positiveDeltas: isFloat ? fc.constant([]) : fc.array(safeInt, { maxLength: 3 }),
    positiveCounts: isFloat ? fc.array(arrayDouble, { maxLength: 3 }) : fc.constant([]),
    resetHint: fc.constantFrom('unknown', 'yes', 'no', 'gauge'),
    timestamp,
    customValues: fc.array(arrayDouble, { maxLength: 3 }),
  }),
);

const metricType = fc.constantFrom<MetricType>('unknown', 'counter', 'gauge', 'summary', 'histogram', 'gaugehistogram', 'info', 'stateset');

const seriesV1: fc.Arbitrary<TimeSeries> = fc.record({
  labels,
  samples: fc.array(sample, { maxLength: 4 }),
  histograms: fc.array(histogram, { maxLength: 2 }),
  exemplars: fc.array(exemplar, { maxLength: 2 }),
});

const metadataV1: fc.Arbitrary<MetricMetadata> = fc.record({ metricFamilyName: labelValue, type: metricType, help: labelValue, unit: labelValue });

export const requestV1: fc.Arbitrary<WriteRequest> = fc.record({
  version: fc.constant(1 as const),
  series: fc.array(seriesV1, { maxLength: 5 }),
  metadata: fc.array(metadataV1, { maxLength: 3 }),
});

const seriesV2: fc.Arbitrary<TimeSeries> = fc
  .tuple(seriesV1, fc.option(fc.record({ type: metricType, help: labelValue, unit: labelValue }), { nil: undefined }), fc.option(timestamp.filter((t) => t !== 0), { nil: undefined }))
  .map(([s, md, created]) => {
    const out: { -readonly [K in keyof TimeSeries]: TimeSeries[K] } = { ...s };
    // 2.0 metadata carrying nothing is not kept by the decoder; its family name is the series' __name__.
    if (md !== undefined && (md.type !== 'unknown' || md.help !== '' || md.unit !== '')) {
      out.metadata = { metricFamilyName: s.labels.find((l) => l.name === '__name__')!.value, ...md };
    }
    if (created !== undefined) out.createdTimestamp = created;
    return out;
  });

export const requestV2: fc.Arbitrary<WriteRequest> = fc.record({
  version: fc.constant(2 as const),
  series: fc.array(seriesV2, { maxLength: 5 }),
  metadata: fc.constant([]),
});
