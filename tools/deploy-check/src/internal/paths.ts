import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root: this file lives at tools/deploy-check/{src,dist}/internal/. */
export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../../../..');

/** Paths of the deployment artefacts, relative to nothing: absolute, derived from {@link repoRoot}. */
export const deployPaths = {
  dockerfile: resolve(repoRoot, 'deploy/Dockerfile'),
  dockerignore: resolve(repoRoot, '.dockerignore'),
  kubernetes: resolve(repoRoot, 'deploy/kubernetes'),
  base: resolve(repoRoot, 'deploy/kubernetes/base'),
  overlays: resolve(repoRoot, 'deploy/kubernetes/overlays'),
  prometheusRule: resolve(repoRoot, 'deploy/kubernetes/components/monitoring/prometheusrule.yaml'),
  rules: resolve(repoRoot, 'deploy/prometheus/rules/promha.rules.yml'),
  rulesTest: resolve(repoRoot, 'deploy/prometheus/rules/promha.rules.test.yml'),
  bareMetal: resolve(repoRoot, 'deploy/prometheus/bare-metal'),
  runbook: resolve(repoRoot, 'docs/runbooks/promha.md'),
  metrics: resolve(repoRoot, 'docs/metrics.md'),
} as const;
