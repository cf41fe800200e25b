/**
 * Test oracle: the protobufjs static code generated from the vendored .proto files, and conversions between the
 * normalized model and protobufjs messages. Test-only (excluded from the library build).
 */
import protobuf from 'protobufjs';
import { io, prometheus } from '../generated/prompb.js';
import type { Exemplar, Histogram, Label, MetricType, Sample, TimeSeries, WriteRequest } from '../model.js';

// int64 fields decode to Long objects unless Long is unset and protobufjs reconfigured; then to plain numbers
// (pbjs's --force-number does not change decoding).
protobuf.util.Long = null as unknown as typeof protobuf.util.Long;
protobuf.configure();

export { io, prometheus };

const TYPES: readonly MetricType[] = ['unknown', 'counter', 'gauge', 'histogram', 'gaugehistogram', 'summary', 'info', 'stateset'];
const HINTS = ['unknown', 'yes', 'no', 'gauge'] as const;

type Obj = Record<string, unknown>;

function put(o: Obj, key: string, v: unknown, isDefault: boolean): void {
  if (!isDefault) o[key] = v;
}

function sampleObj(s: Sample): Obj {
  const o: Obj = {};
  put(o, 'value', s.value, Object.is(s.value, 0));
  put(o, 'timestamp', s.timestamp, s.timestamp === 0);
  return o;
}

function labelObj(l: Label): Obj {
  const o: Obj = {};
  put(o, 'name', l.name, l.name === '');
  put(o, 'value', l.value, l.value === '');
  return o;
}

function histogramObj(h: Histogram): Obj {
  const o: Obj = {};
  if (h.isFloat) o.countFloat = h.count;
  else o.countInt = h.count;
  put(o, 'sum', h.sum, Object.is(h.sum, 0));
  put(o, 'schema', h.schema, h.schema === 0);
  put(o, 'zeroThreshold', h.zeroThreshold, Object.is(h.zeroThreshold, 0));
  if (h.isFloat) o.zeroCountFloat = h.zeroCount;
  else o.zeroCountInt = h.zeroCount;
  const spans = (xs: Histogram['positiveSpans']) =>
    xs.map((s) => {
      const so: Obj = {};
      put(so, 'offset', s.offset, s.offset === 0);
      put(so, 'length', s.length, s.length === 0);
      return so;
    });
  put(o, 'negativeSpans', spans(h.negativeSpans), h.negativeSpans.length === 0);
  put(o, 'negativeDeltas', h.negativeDeltas, h.negativeDeltas.length === 0);
  put(o, 'negativeCounts', h.negativeCounts, h.negativeCounts.length === 0);
  put(o, 'positiveSpans', spans(h.positiveSpans), h.positiveSpans.length === 0);
  put(o, 'positiveDeltas', h.positiveDeltas, h.positiveDeltas.length === 0);
  put(o, 'positiveCounts', h.positiveCounts, h.positiveCounts.length === 0);
  put(o, 'resetHint', HINTS.indexOf(h.resetHint), h.resetHint === 'unknown');
  put(o, 'timestamp', h.timestamp, h.timestamp === 0);
  put(o, 'customValues', h.customValues, h.customValues.length === 0);
  return o;
}

/** The model as a protobufjs 1.0 WriteRequest, with defaults left unset (as our encoder leaves them off). */
export function toOracleV1(req: WriteRequest): prometheus.WriteRequest {
  const timeseries = req.series.map((s) => {
    const o: Obj = {};
    put(o, 'labels', s.labels.map(labelObj), s.labels.length === 0);
    put(o, 'samples', s.samples.map(sampleObj), s.samples.length === 0);
    put(
      o,
      'exemplars',
      s.exemplars.map((e) => {
        const eo: Obj = {};
        put(eo, 'labels', e.labels.map(labelObj), e.labels.length === 0);
        put(eo, 'value', e.value, Object.is(e.value, 0));
        put(eo, 'timestamp', e.timestamp, e.timestamp === 0);
        return eo;
      }),
      s.exemplars.length === 0,
    );
    put(o, 'histograms', s.histograms.map(histogramObj), s.histograms.length === 0);
    return o;
  });
  const metadata = req.metadata.map((m) => {
    const o: Obj = {};
    put(o, 'type', TYPES.indexOf(m.type), m.type === 'unknown');
    put(o, 'metricFamilyName', m.metricFamilyName, m.metricFamilyName === '');
    put(o, 'help', m.help, m.help === '');
    put(o, 'unit', m.unit, m.unit === '');
    return o;
  });
  const o: Obj = {};
  put(o, 'timeseries', timeseries, timeseries.length === 0);
  put(o, 'metadata', metadata, metadata.length === 0);
  return prometheus.WriteRequest.fromObject(o);
}

/** The model as a protobufjs 2.0 Request, symbols interned in first-use order (as our encoder does). */
export function toOracleV2(req: WriteRequest): io.prometheus.write.v2.Request {
  const symbols = [''];
  const index = new Map<string, number>([['', 0]]);
  const ref = (s: string): number => {
    let r = index.get(s);
    if (r === undefined) {
      r = symbols.length;
      symbols.push(s);
      index.set(s, r);
    }
    return r;
  };
  const refs = (labels: readonly Label[]) => labels.flatMap((l) => [ref(l.name), ref(l.value)]);
  const timeseries = req.series.map((s) => {
    const o: Obj = {};
    put(o, 'labelsRefs', refs(s.labels), s.labels.length === 0);
    put(o, 'samples', s.samples.map(sampleObj), s.samples.length === 0);
    put(o, 'histograms', s.histograms.map(histogramObj), s.histograms.length === 0);
    put(
      o,
      'exemplars',
      s.exemplars.map((e) => {
        const eo: Obj = {};
        put(eo, 'labelsRefs', refs(e.labels), e.labels.length === 0);
        put(eo, 'value', e.value, Object.is(e.value, 0));
        put(eo, 'timestamp', e.timestamp, e.timestamp === 0);
        return eo;
      }),
      s.exemplars.length === 0,
    );
    if (s.metadata !== undefined) {
      const m: Obj = {};
      const helpRef = ref(s.metadata.help);
      const unitRef = ref(s.metadata.unit);
      put(m, 'type', TYPES.indexOf(s.metadata.type), s.metadata.type === 'unknown');
      put(m, 'helpRef', helpRef, helpRef === 0);
      put(m, 'unitRef', unitRef, unitRef === 0);
      o.metadata = m;
    }
    put(o, 'createdTimestamp', s.createdTimestamp, s.createdTimestamp === undefined || s.createdTimestamp === 0);
    return o;
  });
  const o: Obj = { symbols };
  put(o, 'timeseries', timeseries, timeseries.length === 0);
  return io.prometheus.write.v2.Request.fromObject(o);
}

type PbHistogram = prometheus.Histogram | io.prometheus.write.v2.Histogram;

function num(v: unknown): number {
  return typeof v === 'number' ? v : Number(v);
}

function fromPbHistogram(h: PbHistogram): Histogram {
  const isFloat =
    h.count === 'countFloat' || h.zeroCount === 'zeroCountFloat' || h.negativeCounts.length > 0 || h.positiveCounts.length > 0;
  return {
    isFloat,
    count: h.count === 'countFloat' ? num(h.countFloat) : num(h.countInt ?? 0),
    zeroCount: h.zeroCount === 'zeroCountFloat' ? num(h.zeroCountFloat) : num(h.zeroCountInt ?? 0),
    sum: h.sum,
    schema: h.schema,
    zeroThreshold: h.zeroThreshold,
    negativeSpans: h.negativeSpans.map((s) => ({ offset: s.offset ?? 0, length: s.length ?? 0 })),
    negativeDeltas: h.negativeDeltas.map(num),
    negativeCounts: [...h.negativeCounts],
    positiveSpans: h.positiveSpans.map((s) => ({ offset: s.offset ?? 0, length: s.length ?? 0 })),
    positiveDeltas: h.positiveDeltas.map(num),
    positiveCounts: [...h.positiveCounts],
    resetHint: HINTS[h.resetHint] ?? 'unknown',
    timestamp: num(h.timestamp),
    customValues: [...h.customValues],
  };
}

/** Decodes 1.0 bytes with protobufjs and converts to the model (no validation). */
export function oracleDecodeV1(bytes: Uint8Array): WriteRequest {
  const m = prometheus.WriteRequest.decode(bytes);
  const label = (l: prometheus.Label.$Properties): Label => ({ name: l.name ?? '', value: l.value ?? '' });
  return {
    version: 1,
    series: m.timeseries.map(
      (s): TimeSeries => ({
        labels: (s.labels ?? []).map(label),
        samples: (s.samples ?? []).map((x) => ({ value: x.value ?? 0, timestamp: num(x.timestamp ?? 0) })),
        histograms: (s.histograms ?? []).map((h) => fromPbHistogram(prometheus.Histogram.create(h))),
        exemplars: (s.exemplars ?? []).map(
          (e): Exemplar => ({ labels: (e.labels ?? []).map(label), value: e.value ?? 0, timestamp: num(e.timestamp ?? 0) }),
        ),
      }),
    ),
    metadata: m.metadata.map((x) => ({
      metricFamilyName: x.metricFamilyName ?? '',
      type: TYPES[x.type ?? 0] ?? 'unknown',
      help: x.help ?? '',
      unit: x.unit ?? '',
    })),
  };
}

/** Decodes 2.0 bytes with protobufjs and converts to the model (refs resolved, no validation). */
export function oracleDecodeV2(bytes: Uint8Array): WriteRequest {
  const m = io.prometheus.write.v2.Request.decode(bytes);
  const labels = (refs: readonly number[]): Label[] => {
    const out: Label[] = [];
    for (let i = 0; i < refs.length; i += 2) out.push({ name: m.symbols[refs[i]!]!, value: m.symbols[refs[i + 1]!]! });
    return out;
  };
  return {
    version: 2,
    metadata: [],
    series: m.timeseries.map((s) => {
      const ls = labels(s.labelsRefs ?? []);
      const series: { -readonly [K in keyof TimeSeries]: TimeSeries[K] } = {
        labels: ls,
        samples: (s.samples ?? []).map((x) => ({ value: x.value ?? 0, timestamp: num(x.timestamp ?? 0) })),
        histograms: (s.histograms ?? []).map((h) => fromPbHistogram(io.prometheus.write.v2.Histogram.create(h))),
        exemplars: (s.exemplars ?? []).map((e) => ({ labels: labels(e.labelsRefs ?? []), value: e.value ?? 0, timestamp: num(e.timestamp ?? 0) })),
      };
      const md = s.metadata;
      if (md != null && ((md.type ?? 0) !== 0 || (md.helpRef ?? 0) !== 0 || (md.unitRef ?? 0) !== 0)) {
        series.metadata = {
          metricFamilyName: ls.find((l) => l.name === '__name__')?.value ?? '',
          type: TYPES[md.type ?? 0] ?? 'unknown',
          help: m.symbols[md.helpRef ?? 0] ?? '',
          unit: m.symbols[md.unitRef ?? 0] ?? '',
        };
      }
      const ct = num(s.createdTimestamp ?? 0);
      if (ct !== 0) series.createdTimestamp = ct;
      return series;
    }),
  };
}
