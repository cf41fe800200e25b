import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { apps, autoscaling, policy, rbacAuthorizationK8sIo, v1 } from 'kubernetes-models';
import { monitoringCoreosCom } from '@kubernetes-models/prometheus-operator';
import { parseAllDocuments } from 'yaml';
import { deployPaths } from './paths.js';
import { runTool } from './tool.js';

/** A rendered Kubernetes object: only the fields every object has are typed; the rest is checked at run time. */
export interface KubeObject {
  readonly apiVersion: string;
  readonly kind: string;
  readonly metadata: { readonly name: string; readonly namespace?: string; readonly labels?: Record<string, string> };
  readonly [field: string]: unknown;
}

/** Every overlay directory under deploy/kubernetes/overlays (each one is a deployable variant). */
export function listOverlays(): readonly string[] {
  return readdirSync(deployPaths.overlays)
    .map((name) => join(deployPaths.overlays, name))
    .filter((dir) => statSync(dir).isDirectory())
    .sort();
}

/** Parses a multi-document YAML stream into objects; throws on YAML errors or a document that is not an object. */
export function parseKubeObjects(text: string, source: string): KubeObject[] {
  const out: KubeObject[] = [];
  for (const doc of parseAllDocuments(text)) {
    if (doc.errors.length > 0) throw new Error(`${source}: ${doc.errors.map((e) => e.message).join('; ')}`);
    const value: unknown = doc.toJS();
    if (value === null) continue;
    if (!isKubeObject(value)) throw new Error(`${source}: a document is not a Kubernetes object: ${JSON.stringify(value).slice(0, 200)}`);
    out.push(value);
  }
  return out;
}

function isKubeObject(value: unknown): value is KubeObject {
  if (typeof value !== 'object' || value === null) return false;
  const o = value as Record<string, unknown>;
  const meta = o['metadata'];
  return (
    typeof o['apiVersion'] === 'string' &&
    typeof o['kind'] === 'string' &&
    typeof meta === 'object' &&
    meta !== null &&
    typeof (meta as Record<string, unknown>)['name'] === 'string'
  );
}

/** `kubectl kustomize <dir>`, parsed. Throws with kubectl's message when the kustomization does not build. */
export function renderKustomization(dir: string): KubeObject[] {
  const r = runTool('kubectl', ['kustomize', dir]);
  if (!r.ok) throw new Error(`kubectl kustomize ${dir} failed (exit ${r.status}):\n${r.stderr}`);
  return parseKubeObjects(r.stdout, dir);
}

interface Model {
  validate(): void;
}
type ModelClass = new (data: never) => Model;

/**
 * The schema for every (apiVersion, kind) the manifests may contain. A kind missing here fails validation:
 * adding a new kind to the manifests means adding its schema, never skipping it.
 */
const MODELS: ReadonlyMap<string, ModelClass> = new Map<string, ModelClass>([
  ['v1/ServiceAccount', v1.ServiceAccount],
  ['v1/Service', v1.Service],
  ['v1/Secret', v1.Secret],
  ['v1/ConfigMap', v1.ConfigMap],
  ['v1/Namespace', v1.Namespace],
  ['apps/v1/Deployment', apps.v1.Deployment],
  ['policy/v1/PodDisruptionBudget', policy.v1.PodDisruptionBudget],
  ['autoscaling/v2/HorizontalPodAutoscaler', autoscaling.v2.HorizontalPodAutoscaler],
  ['rbac.authorization.k8s.io/v1/ClusterRole', rbacAuthorizationK8sIo.v1.ClusterRole],
  ['rbac.authorization.k8s.io/v1/ClusterRoleBinding', rbacAuthorizationK8sIo.v1.ClusterRoleBinding],
  ['monitoring.coreos.com/v1/ServiceMonitor', monitoringCoreosCom.v1.ServiceMonitor],
  ['monitoring.coreos.com/v1/PrometheusRule', monitoringCoreosCom.v1.PrometheusRule],
  ['monitoring.coreos.com/v1/Prometheus', monitoringCoreosCom.v1.Prometheus],
]);

/**
 * Validates one object against its Kubernetes (or Prometheus Operator CRD) OpenAPI schema. Returns the problem
 * as a message, or undefined when the object is valid. The schemas do not reject unknown fields.
 */
export function validateKubeObject(obj: KubeObject): string | undefined {
  const key = `${obj.apiVersion}/${obj.kind}`;
  const Model = MODELS.get(key);
  const where = `${key} ${obj.metadata.namespace ?? ''}/${obj.metadata.name}`;
  if (Model === undefined) return `${where}: no schema known for ${key} (add it to the validator)`;
  try {
    new Model(obj as never).validate();
    return undefined;
  } catch (e: unknown) {
    return `${where}: ${e instanceof Error ? e.message : String(e)}`;
  }
}
