import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { SERVICE_DEFAULT_LABELS } from './internal/conventions.js';
import { parseKubeObjects } from './internal/kube.js';
import { deployPaths } from './internal/paths.js';
import { parseRuleGroups, renderPrometheusRule } from './internal/prometheus-rule.js';
import { runTool } from './internal/tool.js';

interface Rule {
  readonly alert?: string;
  readonly expr: string;
  readonly annotations?: Readonly<Record<string, string>>;
}
interface AlertTest {
  readonly alertname: string;
  readonly exp_alerts?: readonly unknown[];
}

const rulesText = readFileSync(deployPaths.rules, 'utf8');
const alerts = (parseRuleGroups(rulesText) as { rules: Rule[] }[]).flatMap((g) => g.rules).filter((r) => r.alert !== undefined);
const bareMetal = readdirSync(deployPaths.bareMetal).filter((f) => f.endsWith('.yml')).sort().map((f) => join(deployPaths.bareMetal, f));

function promtool(...args: string[]): string {
  const r = runTool('promtool', args);
  expect(r.ok, `promtool ${args.join(' ')}:\n${r.stdout}\n${r.stderr}`).toBe(true);
  return r.stdout;
}

/** GitHub's heading anchors: lower case, spaces to dashes, punctuation dropped. */
function anchors(markdown: string): Set<string> {
  return new Set(
    [...markdown.matchAll(/^#{1,6}\s+(.+)$/gm)].map((m) => m[1]!.trim().toLowerCase().replace(/[^\p{L}\p{N} _-]/gu, '').replace(/ /g, '-')),
  );
}

describe('alert rules', () => {
  it('pass promtool check rules', () => {
    expect(promtool('check', 'rules', deployPaths.rules)).toMatch(new RegExp(`SUCCESS: ${alerts.length} rules found`));
  });

  it('pass their promtool unit tests', () => {
    expect(promtool('test', 'rules', deployPaths.rulesTest)).toMatch(/SUCCESS/);
  });

  it('cover leaderless clusters, flapping leaders, fence failures, write errors, 503s, the database and unled samples', () => {
    const exprs = alerts.map((a) => a.expr).join('\n');
    for (const metric of [
      'promha_ha_leader', // cluster with no leader
      'promha_ha_leader_changes_total', // leader changes too often
      'promha_ha_fence_failures_total',
      'promha_write_errors_total',
      'promha_requests_total', // 503s
      'promha_db_up', // database unreachable
      'promha_ha_unled_samples_total', // a replica sending to a cluster nobody leads
    ]) {
      expect(exprs).toMatch(new RegExp(`\\b${metric}\\b`));
    }
  });

  it('use only metric names from docs/metrics.md', () => {
    const documented = new Set([...readFileSync(deployPaths.metrics, 'utf8').matchAll(/^\| `(promha_[a-z_]+)` \|/gm)].map((m) => m[1]!));
    expect(documented.size).toBeGreaterThan(10);
    const used = new Set(alerts.flatMap((a) => [...a.expr.matchAll(/\bpromha_[a-z_]+/g)].map((m) => m[0].replace(/_(bucket|sum|count)$/, ''))));
    expect([...used].filter((m) => !documented.has(m) && !documented.has(`${m}_bucket`))).toEqual([]);
  });

  it('each have a firing and a quiet unit test case', () => {
    const doc = parse(readFileSync(deployPaths.rulesTest, 'utf8')) as { tests: { alert_rule_test?: AlertTest[] }[] };
    const cases = doc.tests.flatMap((t) => t.alert_rule_test ?? []);
    for (const a of alerts) {
      const mine = cases.filter((c) => c.alertname === a.alert);
      expect(mine.some((c) => (c.exp_alerts ?? []).length > 0), `${a.alert} never fires in a test`).toBe(true);
      expect(mine.some((c) => (c.exp_alerts ?? []).length === 0), `${a.alert} has no quiet case`).toBe(true);
    }
  });

  it('each link a runbook section that exists', () => {
    const headings = anchors(readFileSync(deployPaths.runbook, 'utf8'));
    for (const a of alerts) {
      const url = a.annotations?.['runbook_url'] ?? '';
      expect(url, a.alert).toBe(`docs/runbooks/promha.md#${a.alert!.toLowerCase()}`);
      expect(headings.has(a.alert!.toLowerCase()), `docs/runbooks/promha.md has no "## ${a.alert}" section`).toBe(true);
    }
  });
});

describe('PrometheusRule generated from the rules file', () => {
  const committed = readFileSync(deployPaths.prometheusRule, 'utf8');

  it('is up to date (run: npx nx run @promha/deploy-check:generate-rules)', () => {
    expect(committed).toBe(renderPrometheusRule(rulesText));
  });

  it('embeds exactly the rules file groups', () => {
    const [rule] = parseKubeObjects(committed, deployPaths.prometheusRule);
    expect((rule as { spec?: { groups?: unknown } } | undefined)?.spec?.groups).toEqual(parseRuleGroups(rulesText));
  });
});

describe('bare-metal Prometheus HA pair', () => {
  interface PromConfig {
    global: { external_labels: Record<string, string> };
    remote_write: { url: string }[];
    remote_read: { url: string; filter_external_labels?: boolean }[];
  }
  const configs = bareMetal.map((f) => parse(readFileSync(f, 'utf8')) as PromConfig);

  it('has two replicas whose configs pass promtool check config', () => {
    expect(bareMetal).toHaveLength(2);
    for (const f of bareMetal) promtool('check', 'config', f);
  });

  it('differ only in the replica external label, named as promha expects', () => {
    const { cluster, replica } = SERVICE_DEFAULT_LABELS;
    const replicas = configs.map((c) => c.global.external_labels[replica]);
    expect(new Set(replicas).size).toBe(2);
    expect(configs.every((c) => c.global.external_labels[cluster] === configs[0]!.global.external_labels[cluster])).toBe(true);
    expect(configs[0]!.global.external_labels[cluster]).toBeTruthy();
    const withoutReplica = configs.map((c) => {
      const labels = Object.fromEntries(Object.entries(c.global.external_labels).filter(([k]) => k !== replica));
      return { ...c, global: { ...c.global, external_labels: labels } };
    });
    expect(withoutReplica[1]).toEqual(withoutReplica[0]);
  });

  it('write to promha and read through it without filtering by their own external labels', () => {
    for (const c of configs) {
      expect(c.remote_write.map((w) => new URL(w.url).pathname)).toEqual(['/api/v1/write']);
      expect(c.remote_read.map((r) => [new URL(r.url).pathname, r.filter_external_labels])).toEqual([['/api/v1/read', false]]);
    }
  });
});
