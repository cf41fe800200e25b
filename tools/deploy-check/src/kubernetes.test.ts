import { basename } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkConventions, OPERATOR_DEFAULT_LABELS, SERVICE_DEFAULT_LABELS } from './internal/conventions.js';
import type { HaLabels } from './internal/conventions.js';
import { listOverlays, renderKustomization, validateKubeObject } from './internal/kube.js';
import type { KubeObject } from './internal/kube.js';
import { deployPaths } from './internal/paths.js';

/**
 * The HA label names each overlay must give promha. A new overlay must be added here: an overlay the table does
 * not know fails, rather than being checked against a guess.
 */
const OVERLAY_LABELS: Readonly<Record<string, HaLabels>> = {
  production: SERVICE_DEFAULT_LABELS,
  operator: OPERATOR_DEFAULT_LABELS,
};

const overlays = listOverlays();

describe('Kustomize overlays', () => {
  it('has the overlays the issue asks for', () => {
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
