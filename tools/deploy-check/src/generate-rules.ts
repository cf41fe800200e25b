// Regenerates deploy/kubernetes/components/monitoring/prometheusrule.yaml from the plain rules file (the source).
import { readFileSync, writeFileSync } from 'node:fs';
import { deployPaths } from './internal/paths.js';
import { renderPrometheusRule } from './internal/prometheus-rule.js';

writeFileSync(deployPaths.prometheusRule, renderPrometheusRule(readFileSync(deployPaths.rules, 'utf8')));
process.stdout.write(`wrote ${deployPaths.prometheusRule}\n`);
