import { describe, expect, it } from 'vitest';
import { parseCli, reproduceCommand, usage } from './cli.js';
import { reportHtml, reportJson, summaryTable } from './report.js';
import type { RunResult } from './runner.js';
import { checkRun } from './checkers.js';
import { encodeValue, clusterName } from './values.js';

describe('cli', () => {
  it('parses the README example and round-trips through the reproduce command', () => {
    const cli = parseCli(
      '--clusters 3 --replicas 2 --ingesters 2 --duration 60s --scrape-interval 1s --skew 0-3s --faults all --seed 42 --report out/sim'.split(
        ' ',
      ),
    );
    expect(cli.scenario).toMatchObject({
      clusters: 3,
      replicas: 2,
      durationMs: 60_000,
      skewMinMs: 0,
      skewMaxMs: 3000,
      seed: 42,
    });
    expect(cli.reportDir).toBe('out/sim');
    const again = parseCli(reproduceCommand(cli.scenario).split(' ').slice(4));
    expect(again.scenario).toEqual(cli.scenario);
  });
  it('rejects unknown flags and bad values with a clear message', () => {
    expect(() => parseCli(['--bogus'])).toThrow(/unknown flag --bogus/);
    expect(() => parseCli(['--clusters', 'x'])).toThrow(/--clusters must be an integer/);
    expect(() => parseCli(['--ha', 'maybe'])).toThrow(/true or false/);
    expect(usage()).toContain('--scrape-interval');
  });
});

describe('report', () => {
  it('renders a self-contained HTML page, JSON and a table', () => {
    const scenario = parseCli(['--clusters', '1', '--duration', '2s', '--scrape-interval', '100ms']).scenario;
    const base = 1_000_000;
    const stored = [0, 100, 200].map((t) => ({
      cluster: clusterName(0),
      series: 'x',
      t: base + t,
      value: encodeValue({ cluster: 0, replica: 0, seq: t }),
    }));
    const check = checkRun({ scenario, faults: [], dataBaseMs: base, skews: [[0, 0]], stored, acks: [] });
    const result: RunResult = {
      scenario,
      faults: [{ id: 1, kind: 'replica-crash', atMs: 500, durationMs: 300, cluster: 0, replica: 1 }],
      faultEvents: [{ faultId: 1, action: 'start', atMs: 501 }],
      skews: [[0, 0]],
      dataBaseMs: base,
      wallStartMs: base,
      check,
      history: [{ cluster: 0, epoch: 1, leader: 0, start: base, atMs: 0 }],
      balancer: { requests: 1, cut: 0, lostBefore: 0, lostAfter: 0, duplicated: 0, noBackend: 0 },
      tier: 'test <tier>',
      acks: [],
      stored: [],
    };
    const html = reportHtml(result);
    expect(html).toContain('<svg');
    expect(html).toContain('test &lt;tier&gt;');
    expect(html).not.toMatch(/<(script|link)\b|src="http/);
    expect(reportJson(result)).toMatchObject({ verdict: 'pass', seed: scenario.seed });
    expect(summaryTable(result)).toMatch(/sim-c0\s+0\s+100 ms/);
  });
});

describe('plan', () => {
  it('same seed, same skews and fault schedule', async () => {
    const { plan } = await import('./runner.js');
    const s = parseCli([
      '--clusters',
      '3',
      '--replicas',
      '3',
      '--skew',
      '0-3s',
      '--faults',
      'all',
      '--duration',
      '60s',
    ]).scenario;
    expect(plan({ ...s, seed: 9 })).toEqual(plan({ ...s, seed: 9 }));
    expect(plan({ ...s, seed: 9 })).not.toEqual(plan({ ...s, seed: 10 }));
    expect(
      plan(s)
        .skews.flat()
        .every((k) => k >= 0 && k <= 3000),
    ).toBe(true);
  });
});
