import { describe, expect, it } from 'vitest';
import type { AckRecord } from './checkers.js';
import { ManualTimers } from './manual-timers.js';
import { Prng } from './prng.js';
import { FakeReplica, type OutgoingWrite, type SendResult } from './replica.js';
import { resolveScenario } from './scenario.js';
import { decodeValue } from './values.js';
import { decodeWriteRequestV1, encodeWriteRequestV1, snappyDecode, snappyLiteral } from './wire.js';

function setup(answers: (n: number) => SendResult, options: Parameters<typeof resolveScenario>[0] = {}) {
  const timers = new ManualTimers();
  const sent: OutgoingWrite[] = [];
  const acks: AckRecord[] = [];
  const scenario = resolveScenario({
    scrapeIntervalMs: 100,
    jitterMs: 0,
    seriesPerReplica: 4,
    shards: 1,
    batchDeadlineMs: 50,
    minBackoffMs: 10,
    maxBackoffMs: 40,
    ...options,
  });
  const replica = new FakeReplica({
    scenario,
    cluster: 1,
    replica: 2,
    skewMs: 1000,
    dataBaseMs: 1_000_000,
    rng: new Prng(1),
    timers,
    transport: {
      send: (r) => {
        sent.push(r);
        return Promise.resolve(answers(sent.length));
      },
    },
    encode: (s) => snappyLiteral(encodeWriteRequestV1(s)),
    onAnswer: (a) => acks.push(a),
  });
  return { timers, sent, acks, replica };
}

describe('FakeReplica', () => {
  it('scrapes on its skewed clock and sends values that name their origin', async () => {
    const { timers, sent, acks, replica } = setup(() => ({
      kind: 'answer',
      status: 204,
    }));
    replica.start();
    await timers.advance(1000);
    expect(sent.length).toBeGreaterThanOrEqual(9);
    const series = decodeWriteRequestV1(snappyDecode(sent[0]!.body, 1 << 20));
    expect(series[0]?.labels.map((l) => l.name)).toEqual(['__name__', '__replica__', 'cluster', 'series']);
    const s = series[0]!.samples[0]!;
    expect(decodeValue(s.value)).toEqual({ cluster: 1, replica: 2, seq: 0 });
    expect(s.timestamp).toBeGreaterThanOrEqual(1_001_000);
    expect(acks.every((a) => a.status === 204)).toBe(true);
  });

  it('caps batches at maxSamplesPerSend', async () => {
    const { timers, sent, replica } = setup(() => ({ kind: 'answer', status: 204 }), {
      seriesPerReplica: 30,
      maxSamplesPerSend: 7,
    });
    replica.start();
    await timers.advance(500);
    const sizes = sent.map((r) =>
      decodeWriteRequestV1(snappyDecode(r.body, 1 << 20)).reduce((n, x) => n + x.samples.length, 0),
    );
    expect(Math.max(...sizes)).toBeLessThanOrEqual(7);
    expect(sizes.reduce((a, b) => a + b, 0)).toBeGreaterThan(100);
  });

  it('retries 5xx and network errors with the identical body, drops 4xx', async () => {
    const { timers, sent, acks, replica } = setup((n) =>
      n <= 2
        ? { kind: 'answer', status: 503 }
        : n === 3
          ? { kind: 'network-error', message: 'reset' }
          : n === 4
            ? { kind: 'answer', status: 400 }
            : { kind: 'answer', status: 204 },
    );
    replica.start();
    await timers.advance(400);
    expect(sent[1]!.body).toEqual(sent[0]!.body);
    expect(sent[3]!.body).toEqual(sent[0]!.body);
    expect(acks[0]).toMatchObject({ status: 400, attempts: 4 });
    expect(acks.slice(1).every((a) => a.status === 204)).toBe(true);
  });

  it('loses its queue on a crash and resumes after a restart', async () => {
    const { timers, acks, replica } = setup(() => ({
      kind: 'answer',
      status: 503,
    }));
    replica.start();
    await timers.advance(300);
    replica.crash();
    expect(acks.length).toBeGreaterThan(0);
    expect(acks.every((a) => a.status === 0)).toBe(true);
    expect(replica.queuedSamples).toBe(0);
    const before = acks.length;
    await timers.advance(300);
    expect(acks.length).toBe(before);
    replica.start();
    await timers.advance(300);
    expect(replica.queuedSamples).toBeGreaterThan(0);
  });
});
