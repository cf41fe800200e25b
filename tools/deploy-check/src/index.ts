/**
 * Offline checks of promha's deployment artefacts (deploy/): Kustomize rendering, Kubernetes schema validation,
 * deployment conventions, and the PrometheusRule generated from the plain rules file.
 */
export { checkConventions, OPERATOR_DEFAULT_LABELS, SERVICE_DEFAULT_LABELS } from './internal/conventions.js';
export type { HaLabels } from './internal/conventions.js';
export { parseDurationMs } from './internal/duration.js';
export { listOverlays, parseKubeObjects, renderKustomization, validateKubeObject } from './internal/kube.js';
export type { KubeObject } from './internal/kube.js';
export { deployPaths, repoRoot } from './internal/paths.js';
export { parseRuleGroups, renderPrometheusRule } from './internal/prometheus-rule.js';
export { runTool } from './internal/tool.js';
export type { ToolResult } from './internal/tool.js';
