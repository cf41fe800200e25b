/**
 * Election benchmarks (per request, on the ingest's hot path):
 * - election.split: `splitByCluster` over a 2,000-series x 10-label request of one HA replica, against a bare loop
 *   that only reads every label of every series (the floor any per-series label check must pay). Unit series/s.
 * - election.decide.hot: `Election.decide` for the leader within its cached lease (no store round trip; the
 *   data time advances 1 s per call, so an extension is decided every 5th call), against an empty async call.
 *   Unit requests/s.
 */
import { Election, splitByCluster } from '@promha/election';
import { InMemoryLeaseStore, ManualClock } from '@promha/election/testing';
import { interleave, measurement, type Bench, type Measurement } from '../harness.js';

interface Series {
  readonly labels: readonly { readonly name: string; readonly value: string }[];
  readonly samples: readonly { readonly value: number; readonly timestamp: number }[];
  readonly histograms: readonly { readonly timestamp: number }[];
  readonly exemplars: readonly { readonly timestamp: number }[];
}

function request(n: number): Series[] {
  const out: Series[] = [];
  for (let i = 0; i < n; i++) {
    out.push({
      labels: [
        { name: '__name__', value: `metric_${i % 60}` },
        { name: '__replica__', value: 'prometheus-0' },
        { name: 'cluster', value: 'eu-1' },
        { name: 'container', value: `c${i % 7}` },
        { name: 'instance', value: `10.0.${i % 40}.1:9100` },
        { name: 'job', value: 'node' },
        { name: 'le', value: String(i % 11) },
        { name: 'namespace', value: 'monitoring' },
        { name: 'pod', value: `pod-${i % 40}` },
        { name: 'service', value: 'node-exporter' },
      ],
      samples: [{ value: i, timestamp: 1_700_000_000_000 + (i % 15) }],
      histograms: [],
      exemplars: [],
    });
  }
  return out;
}

async function* runSplit(): AsyncIterable<Measurement> {
  const series = request(2_000);
  const labels = { clusterLabel: 'cluster', replicaLabel: '__replica__' };
  let sink = 0;
  const split = await interleave(
    () => {
      const r = splitByCluster(series, labels);
      if (r.kind === 'ok') sink += r.parts.length;
    },
    () => {
      for (const s of series) for (const l of s.labels) if (l.name.length === 0) sink++;
    },
    series.length,
  );
  yield measurement('election.split', 'series/s', split.a, 'read-every-label loop', split.b);
  if (sink < 0) throw new Error('unreachable');
}

async function* runDecide(): AsyncIterable<Measurement> {
  let sink = 0;

  const clock = new ManualClock(1_700_000_000_000);
  const election = new Election({ store: new InMemoryLeaseStore(), clock, options: {} });
  await election.start();
  let t = 1_700_000_000_000;
  await election.decide({ cluster: 'eu-1', replica: 'prometheus-0', minTime: t, maxTime: t });
  const decide = await interleave(
    async () => {
      t += 1_000;
      clock.set(t);
      const d = await election.decide({ cluster: 'eu-1', replica: 'prometheus-0', minTime: t - 1_000, maxTime: t });
      if (d.kind !== 'store') throw new Error(`hot path left the lease: ${d.kind}`);
    },
    async () => {
      sink += await Promise.resolve(1);
    },
    1,
  );
  yield measurement('election.decide.hot', 'requests/s', decide.a, 'empty async call', decide.b);
  if (sink < 0) throw new Error('unreachable');
}

export const benches: readonly Bench[] = [
  { name: 'election.split', run: runSplit },
  { name: 'election.decide.hot', run: runDecide },
];
