import { readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkConventions, OPERATOR_DEFAULT_LABELS, SERVICE_DEFAULT_LABELS } from './internal/conventions.js';
import type { HaLabels } from './internal/conventions.js';
import { listOverlays, renderKustomization, validateKubeObject } from './internal/kube.js';
import type { KubeObject } from './internal/kube.js';
import { deployPaths, repoRoot } from './internal/paths.js';

/**
 * The HA label names each overlay must give promha. A new overlay must be added here: an overlay the table does
 * not know fails, rather than being checked against a guess.
 */
const OVERLAY_LABELS: Readonly<Record<string, HaLabels>> = {
  production: SERVICE_DEFAULT_LABELS,
  operator: OPERATOR_DEFAULT_LABELS,
};

const overlays = listOverlays();

/**
 * The service's flag names, read from its flag table (apps/ingest/src/config.ts, the single source of truth for
 * flags): a misspelt PROMHA_* variable would be silently ignored by the service, so the manifests are checked
 * against it. Read as text because @promha/ingest does not export the table.
 */
function serviceEnvNames(): Set<string> {
  const source = readFileSync(join(repoRoot, 'apps/ingest/src/config.ts'), 'utf8');
  const flags = [...source.matchAll(/\bflag: '([a-z0-9.-]+)'/g)].map((m) => m[1]!);
  expect(flags.length, 'no flags found in apps/ingest/src/config.ts: update serviceEnvNames()').toBeGreaterThan(10);
  return new Set(flags.map((f) => `PROMHA_${f.toUpperCase().replace(/[.-]/g, '_')}`));
}

describe('Kustomize overlays', () => {
  it('has the production and operator overlays', () => {
    expect(overlays.map((d) => basename(d))).toEqual(expect.arrayContaining(['production', 'operator']));
  });

  it('renders the base and every object in it is valid', () => {
    const objects = renderKustomization(deployPaths.base);
    expect(objects.map((o) => o.kind).sort()).toEqual(['Deployment', 'PodDisruptionBudget', 'Service', 'ServiceAccount']);
    expect(objects.map(validateKubeObject).filter((p) => p !== undefined)).toEqual([]);
  });

  describe.each(overlays.map((dir) => [basename(dir), dir] as const))('overlay %s', (name, dir) => {
    let rendered: KubeObject[] | undefined;
    const objects = (): KubeObject[] => (rendered ??= renderKustomization(dir));

    it('renders with kubectl kustomize', () => {
      expect(objects().length).toBeGreaterThan(0);
    });

    it('validates every object against the Kubernetes and Prometheus Operator schemas', () => {
      const problems = objects().map(validateKubeObject).filter((p) => p !== undefined);
      expect(problems).toEqual([]);
    });

    it('follows the deployment conventions', () => {
      const labels = OVERLAY_LABELS[name];
      expect(labels, `overlay ${name} is missing from OVERLAY_LABELS`).toBeDefined();
      expect(checkConventions(objects(), labels!)).toEqual([]);
    });

    it('sets only PROMHA_* variables the service knows', () => {
      const known = serviceEnvNames();
      const set = objects()
        .filter((o) => o.kind === 'Deployment')
        .flatMap((o) => JSON.stringify(o).match(/"name":"PROMHA_[A-Z0-9_]+"/g) ?? [])
        .map((m) => m.slice(8, -1));
      expect(set.length).toBeGreaterThan(0);
      expect(set.filter((n) => !known.has(n))).toEqual([]);
    });

    it('puts every namespaced promha object in one namespace', () => {
      const promha = objects().filter((o) => o.metadata.labels?.['app.kubernetes.io/name'] === 'promha');
      const namespaces = new Set(promha.filter((o) => !o.kind.startsWith('Cluster') && o.kind !== 'Namespace').map((o) => o.metadata.namespace));
      expect([...namespaces]).toEqual(['promha']);
    });
  });

  it('the operator overlay runs an HA pair of Prometheus servers writing to promha', () => {
    const prom = renderKustomization(`${deployPaths.overlays}/operator`).filter((o) => o.kind === 'Prometheus');
    expect(prom).toHaveLength(1);
    expect(prom[0]).toMatchObject({
      spec: {
        replicas: 2,
        replicaExternalLabelName: 'prometheus_replica',
        prometheusExternalLabelName: 'prometheus',
        remoteWrite: [{ url: 'http://promha.promha.svc:9201/api/v1/write' }],
        remoteRead: [{ url: 'http://promha.promha.svc:9201/api/v1/read', filterExternalLabels: false }],
      },
    });
  });
});
