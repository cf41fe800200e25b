import { parse, stringify } from 'yaml';

const HEADER = [
  '# GENERATED from deploy/prometheus/rules/promha.rules.yml by `npx nx run @promha/deploy-check:generate-rules`.',
  '# Do not edit: change the rules file and regenerate (a test fails when this file and the rules file differ).',
].join('\n');

/** The `groups` of a Prometheus rules file; throws when the text is not a rules file. */
export function parseRuleGroups(rulesText: string): unknown[] {
  const doc: unknown = parse(rulesText);
  const groups = typeof doc === 'object' && doc !== null ? (doc as Record<string, unknown>)['groups'] : undefined;
  if (!Array.isArray(groups) || groups.length === 0) throw new Error('not a Prometheus rules file: no groups');
  return groups as unknown[];
}

/**
 * Renders the Prometheus Operator `PrometheusRule` embedding exactly the groups of a plain rules file, so the
 * two deployment paths (Operator and bare-metal `rule_files`) can never carry different alerts.
 */
export function renderPrometheusRule(rulesText: string): string {
  const resource = {
    apiVersion: 'monitoring.coreos.com/v1',
    kind: 'PrometheusRule',
    metadata: {
      name: 'promha',
      labels: { 'app.kubernetes.io/name': 'promha', 'app.kubernetes.io/component': 'ingest' },
    },
    spec: { groups: parseRuleGroups(rulesText) },
  };
  return `${HEADER}\n${stringify(resource, { lineWidth: 0 })}`;
}
