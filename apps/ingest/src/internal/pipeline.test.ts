import {
  countWritten,
  decodeWriteRequest,
  DEFAULT_WRITE_LIMITS,
  parseWriteContentType,
  peekWriteRequest,
  type TimeSeries,
  type WriteRequest,
} from '@promha/codec';
import { splitByCluster, type Fence } from '@promha/election';
import { describe, expect, it } from 'vitest';
import { IngestError } from '../errors.js';
import { createMetrics } from '../metrics.js';
import { Pipeline, type PipelineOptions } from './pipeline.js';
import type { CodecPort, Decision, ElectionPort, SplitFn, StoreOutcome, StorePart, WriterPort } from './ports.js';
import { StorageError } from '@promha/storage';
import { writeBody, writeContentType } from '../testing/testkit.js';

/** The real codec and split: they are pure, so the pipeline is tested against what production runs. */
const codec: CodecPort = { parseWriteContentType, decodeWriteRequest, countWritten };
const split: SplitFn = (series, labels) => splitByCluster(series, labels);
const V1 = writeContentType(1);
const V2 = writeContentType(2);

function series(name: string, labels: Record<string, string>, times: number[]): TimeSeries {
  return {
    labels: [{ name: '__name__', value: name }, ...Object.entries(labels).map(([n, v]) => ({ name: n, value: v }))].sort((a, b) =>
      a.name < b.name ? -1 : 1,
    ),
    samples: times.map((t) => ({ timestamp: t, value: t })),
    histograms: [],
    exemplars: [],
  };
}

const body = (s: TimeSeries[], metadata: WriteRequest['metadata'] = [], version: 1 | 2 = 1): Buffer => writeBody(s, version, metadata);

class FakeElection implements ElectionPort {
  leaders = new Map<string, string>();
  window: [number, number] = [0, Number.MAX_SAFE_INTEGER];
  failures = 0;
  retry = false;
  throwing = false;
  async decide(part: { cluster: string; replica: string; minTime: number; maxTime: number }): Promise<Decision> {
    await Promise.resolve();
    if (this.throwing) throw new StorageError('STORAGE_UNAVAILABLE', 'lease store down');
    if (this.retry) return { kind: 'retry', reason: 'takeover lost' };
    const leader = this.leaders.get(part.cluster) ?? part.replica;
    this.leaders.set(part.cluster, leader);
    if (leader !== part.replica) return { kind: 'dedupe', leader };
    const fence: Fence = { cluster: part.cluster, replica: part.replica, epoch: 1, minTime: part.minTime, maxTime: part.maxTime, wallNow: 0 };
    return { kind: 'store', fence, from: this.window[0], until: this.window[1] };
  }
  onFenceFailure(): void {
    this.failures++;
  }
  writeFailures: Fence[] = [];
  onWriteFailed(fence: Fence): void {
    this.writeFailures.push(fence);
  }
}

class FakeWriter implements WriterPort {
  parts: StorePart[] = [];
  metadata: unknown[] = [];
  fenceFailures = 0;
  error: Error | undefined;
  async write(part: StorePart): Promise<StoreOutcome> {
    await Promise.resolve();
    if (this.error !== undefined) throw this.error;
    if (part.fence !== undefined && this.fenceFailures > 0) {
      this.fenceFailures--;
      return { kind: 'fence-failed', cluster: part.fence.cluster, current: undefined };
    }
    this.parts.push(part);
    const samples = part.series.reduce((n, s) => n + s.samples.length, 0);
    return { kind: 'stored', samples, histograms: 0, exemplars: 0 };
  }
  async upsertMetadata(m: readonly unknown[]): Promise<void> {
    await Promise.resolve();
    this.metadata.push(...m);
  }
}

function setup(overrides: Partial<PipelineOptions> = {}) {
  const election = new FakeElection();
  const writer = new FakeWriter();
  const metrics = createMetrics({ defaultMetrics: false });
  const pipeline = new Pipeline({
    codec,
    split,
    election,
    writer,
    metrics,
    highAvailability: true,
    clusterLabel: 'cluster',
    replicaLabel: '__replica__',
    maxDecodedBytes: 1 << 20,
    maxInFlightSamples: 1000,
    limits: DEFAULT_WRITE_LIMITS,
    futureGraceMs: 600_000,
    clock: { now: () => 1_000_000 },
    ...overrides,
  });
  const metric = async (name: string, labels: string) => {
    const text = await metrics.registry.getSingleMetricAsString(name);
    const line = text.split('\n').find((l) => l.startsWith(`${name}${labels} `));
    return line === undefined ? 0 : Number(line.split(' ')[1]);
  };
  return { pipeline, election, writer, metric };
}

const a1 = (times: number[]) => series('up', { cluster: 'a', __replica__: 'r1' }, times);
const a2 = (times: number[]) => series('up', { cluster: 'a', __replica__: 'r2' }, times);

describe('Pipeline', () => {
  it('stores the leader with the replica label removed and a fence, and answers stored', async () => {
    const { pipeline, writer, metric } = setup();
    const r = await pipeline.write(body([a1([1, 2])], [], 2), V2);
    expect(r).toEqual({ kind: 'stored', version: 2, written: { samples: 2, histograms: 0, exemplars: 0 } });
    expect(writer.parts).toHaveLength(1);
    expect(writer.parts[0]!.fence).toMatchObject({ cluster: 'a', replica: 'r1', minTime: 1, maxTime: 2 });
    expect(writer.parts[0]!.series[0]!.labels.map((l) => l.name)).toEqual(['__name__', 'cluster']);
    expect(await metric('promha_samples_total', '{outcome="stored"}')).toBe(2);
  });

  it('deduplicates the non-leader: nothing written, answered deduplicated, counted per cluster', async () => {
    const { pipeline, writer, metric } = setup();
    await pipeline.write(body([a1([1])]), V1);
    const r = await pipeline.write(body([a2([1, 2, 3])], [], 2), V2);
    expect(r.kind).toBe('deduplicated');
    expect(r.written.samples).toBe(3);
    expect(writer.parts).toHaveLength(1);
    expect(await metric('promha_ha_deduplicated_samples_total', '{cluster="a"}')).toBe(3);
  });

  it('splits mixed-cluster requests and decides each part; one stored part makes it a 204', async () => {
    const { pipeline, writer, election } = setup();
    election.leaders.set('a', 'r2');
    const b1 = series('up', { cluster: 'b', __replica__: 'r1' }, [5]);
    const r = await pipeline.write(body([a1([1]), b1, series('plain', {}, [7])]), V1);
    expect(r.kind).toBe('stored');
    const clusters = writer.parts.map((p) => p.fence?.cluster ?? 'non-ha').sort();
    expect(clusters).toEqual(['b', 'non-ha']);
  });

  it('keeps only samples inside the decided window and narrows the fence to them', async () => {
    const { pipeline, writer, election, metric } = setup();
    election.window = [10, 20];
    const r = await pipeline.write(body([a1([5, 10, 19, 20])]), V1);
    expect(r.kind).toBe('stored');
    expect(writer.parts[0]!.series[0]!.samples.map((s) => s.timestamp)).toEqual([10, 19]);
    expect(writer.parts[0]!.fence).toMatchObject({ minTime: 10, maxTime: 19 });
    expect(await metric('promha_ha_deduplicated_samples_total', '{cluster="a"}')).toBe(2);
  });

  it('answers deduplicated when the window keeps nothing', async () => {
    const { pipeline, writer, election } = setup();
    election.window = [100, 200];
    expect((await pipeline.write(body([a1([5])]), V1)).kind).toBe('deduplicated');
    expect(writer.parts).toHaveLength(0);
  });

  it('re-decides once after a fence failure, then succeeds', async () => {
    const { pipeline, writer, election } = setup();
    writer.fenceFailures = 1;
    expect((await pipeline.write(body([a1([1])]), V1)).kind).toBe('stored');
    expect(election.failures).toBe(1);
    expect(writer.parts).toHaveLength(1);
  });

  it('answers 503 after two fence failures', async () => {
    const { pipeline, writer } = setup();
    writer.fenceFailures = 2;
    await expect(pipeline.write(body([a1([1])]), V1)).rejects.toMatchObject({ status: 503 });
    expect(writer.parts).toHaveLength(0);
  });

  it('answers 503 (never 4xx) for retry decisions, lease-store errors and database errors', async () => {
    const s1 = setup();
    s1.election.retry = true;
    await expect(s1.pipeline.write(body([a1([1])]), V1)).rejects.toMatchObject({ status: 503 });
    const s2 = setup();
    s2.election.throwing = true;
    await expect(s2.pipeline.write(body([a1([1])]), V1)).rejects.toMatchObject({ status: 503 });
    const s3 = setup();
    s3.writer.error = new StorageError('STORAGE_UNAVAILABLE', 'connection reset');
    await expect(s3.pipeline.write(body([a1([1])]), V1)).rejects.toMatchObject({ status: 503 });
    expect(await s3.metric('promha_write_errors_total', '{code="STORAGE_UNAVAILABLE"}')).toBe(1);
    expect(s3.election.writeFailures.map((f) => f.cluster)).toEqual(['a']);
    expect(await s3.metric('promha_samples_total', '{outcome="failed"}')).toBe(1);
  });

  it('answers by who can fix a storage error: 400 for data the database refuses, 500 for a bug, never by its name', async () => {
    const cases: [Error, number][] = [
      [new StorageError('STORAGE_READ_LIMIT', 'too many series'), 400],
      [new StorageError('STORAGE_INVALID_INPUT', 'index row too large'), 400],
      [new StorageError('STORAGE_OUTCOME_UNKNOWN', 'commit lost'), 503],
      [new StorageError('STORAGE_DATABASE', 'syntax error'), 500],
      [Object.assign(new Error('looks like one'), { name: 'StorageError', code: 'STORAGE_UNAVAILABLE' }), 500],
    ];
    for (const [error, status] of cases) {
      const s = setup();
      s.writer.error = error;
      await expect(s.pipeline.write(body([a1([1])]), V1)).rejects.toMatchObject({ status });
    }
  });

  it('answers 400 naming the series for a replica label without cluster label, storing nothing', async () => {
    const { pipeline, writer } = setup();
    const bad = series('up', { __replica__: 'r1' }, [1]);
    const err = await pipeline.write(body([series('ok', {}, [1]), bad]), V1).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(IngestError);
    expect(err).toMatchObject({ status: 400, message: 'series 1: replica label "__replica__" without cluster label "cluster"' });
    expect(writer.parts).toHaveLength(0);
  });

  it('with HA off stores every replica as sent, labels untouched, no fence', async () => {
    const { pipeline, writer } = setup({ highAvailability: false });
    await pipeline.write(body([a1([1])]), V1);
    await pipeline.write(body([a2([1])]), V1);
    expect(writer.parts).toHaveLength(2);
    expect(writer.parts.every((p) => p.fence === undefined)).toBe(true);
    expect(writer.parts[1]!.series[0]!.labels.some((l) => l.name === '__replica__')).toBe(true);
  });

  it('upserts metadata-only requests without asking the election', async () => {
    const { pipeline, writer, election } = setup();
    election.throwing = true;
    const meta = [{ metricFamilyName: 'up', type: 'gauge' as const, help: 'h', unit: '' }];
    expect((await pipeline.write(body([], meta), V1)).kind).toBe('stored');
    expect(writer.metadata).toEqual(meta);
  });

  it('gives identical bodies identical idempotency keys and different parts different keys', async () => {
    const { pipeline, writer } = setup();
    const b1 = series('up', { cluster: 'b', __replica__: 'r1' }, [5]);
    await pipeline.write(body([a1([1]), b1]), V1);
    await pipeline.write(body([a1([1]), b1]), V1);
    const keys = writer.parts.map((p) => p.idempotencyKey);
    expect(new Set(keys).size).toBe(2);
  });

  it('takes samples beyond the future grace out before the election sees them, stores the rest, and answers 400 naming the series', async () => {
    const { pipeline, writer, metric } = setup();
    const decided: number[] = [];
    const election = new FakeElection();
    const spy = setup({
      election: {
        decide: (p) => {
          decided.push(p.maxTime);
          return election.decide(p);
        },
        onFenceFailure: () => undefined,
        onWriteFailed: () => undefined,
      },
    });
    const future = 1_000_000 + 600_001;
    const req = [a1([1, future]), series('up', { cluster: 'a', __replica__: 'r1', job: 'j' }, [2]), series('far', {}, [future])];
    const err = await spy.pipeline.write(body(req), V1).catch((e: unknown) => e);
    expect(err).toMatchObject({ status: 400, code: 'PROMHA_INGEST_TOO_FAR_IN_FUTURE' });
    expect((err as Error).message).toMatch(/series 0 \("up"\), series 2 \("far"\)/);
    expect(decided).toEqual([2]);
    const stored = spy.writer.parts.flatMap((p) => p.series.flatMap((x) => x.samples.map((y) => y.timestamp)));
    expect(stored.sort()).toEqual([1, 2]);
    // a series left without data is not written at all
    expect(spy.writer.parts.flatMap((p) => p.series).some((x) => x.labels.some((l) => l.value === 'far'))).toBe(false);
    expect(await spy.metric('promha_samples_total', '{outcome="rejected"}')).toBe(2);
    // at the grace exactly, accepted
    expect((await pipeline.write(body([a1([1_600_000])]), V1)).kind).toBe('stored');
    expect(writer.parts).toHaveLength(1);
    expect(await metric('promha_samples_total', '{outcome="rejected"}')).toBe(0);
  });

  it('keys a part by what was sent and the range kept, not by the lease window', async () => {
    const { pipeline, writer, election } = setup();
    election.window = [0, 100];
    await pipeline.write(body([a1([1])]), V1);
    election.window = [0, 5000];
    await pipeline.write(body([a1([1])]), V1);
    expect(writer.parts).toHaveLength(2);
    expect(writer.parts[0]!.idempotencyKey).toBe(writer.parts[1]!.idempotencyKey);
  });

  it('counts series in the in-flight bound: a request of empty series holds it', async () => {
    const { pipeline } = setup({ maxInFlightSamples: 3 });
    const slow = pipeline.write(body([series('a', {}, []), series('b', {}, []), series('c', {}, [])]), V1);
    expect(pipeline.inFlightSamples()).toBe(3);
    expect(pipeline.overloaded()).toBe(true);
    await slow;
    expect(pipeline.inFlightSamples()).toBe(0);
  });

  it('is overloaded at the in-flight bound and refuses without decoding', async () => {
    const { pipeline } = setup({ maxInFlightSamples: 3 });
    const slow = pipeline.write(body([a1([1, 2])]), V1);
    expect(pipeline.overloaded()).toBe(true);
    await expect(pipeline.write(Buffer.from('not a request'), V1)).rejects.toMatchObject({ code: 'PROMHA_INGEST_OVERLOADED' });
    await slow;
    expect(pipeline.overloaded()).toBe(false);
    expect(pipeline.inFlightSamples()).toBe(0);
  });

  it('propagates codec errors untouched', async () => {
    const { pipeline } = setup();
    await expect(pipeline.write(body([]), 'text/plain')).rejects.toMatchObject({ status: 415 });
  });
});
/** The real codec with its peek, counting the full decodes the pipeline asks the peek for. */
function peekingCodec(): { codec: CodecPort; decodes: () => number; peeks: () => number; fullDecodes: () => number } {
  let decodes = 0;
  let peeks = 0;
  let fullDecodes = 0;
  return {
    decodes: () => decodes,
    peeks: () => peeks,
    fullDecodes: () => fullDecodes,
    codec: {
      ...codec,
      decodeWriteRequest: (b, options) => {
        fullDecodes++;
        return decodeWriteRequest(b, options);
      },
      peekWriteRequest: (b, options) => {
        peeks++;
        const peek = peekWriteRequest(b, options);
        return {
          ...peek,
          decode: () => {
            decodes++;
            return peek.decode();
          },
        };
      },
    },
  };
}

class CountingElection extends FakeElection {
  decisions = 0;
  maxTimes: number[] = [];
  override async decide(part: { cluster: string; replica: string; minTime: number; maxTime: number }): Promise<Decision> {
    this.decisions++;
    this.maxTimes.push(part.maxTime);
    return super.decide(part);
  }
}

describe('Pipeline with a peeking codec', () => {
  const peeking = () => {
    const p = peekingCodec();
    const election = new CountingElection();
    return { ...setup({ codec: p.codec, election }), election, decodes: p.decodes, peeks: p.peeks, fullDecodes: p.fullDecodes };
  };

  it("skips the peek for a sender whose last request was stored; when leadership moved, that sender's request is still answered 202 and its next one is peeked", async () => {
    const { pipeline, writer, election, peeks, fullDecodes } = peeking();
    election.leaders.set('a', 'r1');
    const shard = {};
    expect((await pipeline.write(body([a1([1])]), V1, shard)).kind).toBe('stored');
    expect([peeks(), fullDecodes()]).toEqual([1, 0]);
    expect((await pipeline.write(body([a1([2])]), V1, shard)).kind).toBe('stored');
    expect([peeks(), fullDecodes()]).toEqual([1, 1]);
    // Another sender, and a request that names none, are peeked first.
    expect((await pipeline.write(body([a1([3])]), V1, {})).kind).toBe('stored');
    expect((await pipeline.write(body([a1([4])]), V1)).kind).toBe('stored');
    expect([peeks(), fullDecodes()]).toEqual([3, 1]);
    election.leaders.set('a', 'r2');
    expect(await pipeline.write(body([a1([5])]), V1, shard)).toMatchObject({ kind: 'deduplicated' });
    expect([peeks(), fullDecodes()]).toEqual([3, 2]);
    expect(await pipeline.write(body([a1([6])]), V1, shard)).toMatchObject({ kind: 'deduplicated' });
    expect([peeks(), fullDecodes()]).toEqual([4, 2]);
    expect(writer.parts.map((p) => p.series[0]!.samples[0]!.timestamp)).toEqual([1, 2, 3, 4]);
  });

  it('answers a non-leader request 202 without decoding it in full, counted as deduplicated', async () => {
    const { pipeline, writer, metric, decodes } = peeking();
    await pipeline.write(body([a1([1, 2])], [], 2), V2);
    expect(decodes()).toBe(1);
    const r = await pipeline.write(body([a2([1, 2, 3])], [], 2), V2);
    expect(r).toEqual({ kind: 'deduplicated', version: 2, written: { samples: 3, histograms: 0, exemplars: 0 } });
    expect(decodes()).toBe(1);
    expect(writer.parts).toHaveLength(1);
    expect(await metric('promha_samples_total', '{outcome="deduplicated"}')).toBe(3);
    expect(await metric('promha_ha_deduplicated_samples_total', '{cluster="a"}')).toBe(3);
  });

  it('decodes in full when anything is kept (a leader part, non-HA series, metadata) and decides each part once', async () => {
    const { pipeline, writer, election, decodes } = peeking();
    election.leaders.set('a', 'r1');
    const b2 = series('up', { cluster: 'b', __replica__: 'r2' }, [5]);
    expect((await pipeline.write(body([a2([1]), b2]), V1)).kind).toBe('stored');
    expect(election.decisions).toBe(2);
    expect(writer.parts.map((p) => p.fence?.cluster)).toEqual(['b']);
    expect((await pipeline.write(body([a2([1]), series('up', { job: 'x' }, [1])]), V1)).kind).toBe('stored');
    const meta = [{ metricFamilyName: 'up', type: 'gauge' as const, help: 'h', unit: '' }];
    expect((await pipeline.write(body([a2([1])], meta), V1)).kind).toBe('deduplicated');
    expect(decodes()).toBe(3);
    expect(writer.metadata).toEqual(meta);
  });

  it('leaves a replica label without a cluster label to the full path (400, first such series named)', async () => {
    const { pipeline, election } = peeking();
    const bad = series('up', { __replica__: 'r1' }, [1]);
    await expect(pipeline.write(body([a1([1]), bad]), V1)).rejects.toMatchObject({ status: 400 });
    expect(election.decisions).toBe(0);
  });

  it('decides nothing on the peek when a sample lies beyond the future grace: the full path cuts it first', async () => {
    const { pipeline, election, writer } = peeking();
    election.leaders.set('a', 'r1');
    // The clock is at 1,000,000 with a grace of 600,000: 5,000,000 is too far ahead.
    await expect(pipeline.write(body([a2([1, 5_000_000])]), V1)).rejects.toMatchObject({ status: 400 });
    expect(election.maxTimes).toEqual([1]);
    expect(writer.parts).toHaveLength(0);
  });

  it('answers 503 when the decision fails, and a failed early decision is not retried as a success', async () => {
    const { pipeline, election } = peeking();
    election.throwing = true;
    await expect(pipeline.write(body([a1([1])]), V1)).rejects.toMatchObject({ status: 503 });
  });
});
