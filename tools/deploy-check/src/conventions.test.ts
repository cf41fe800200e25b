import { describe, expect, it } from 'vitest';
import { checkConventions, SERVICE_DEFAULT_LABELS } from './internal/conventions.js';
import { parseDurationMs } from './internal/duration.js';
import { renderKustomization, validateKubeObject } from './internal/kube.js';
import type { KubeObject } from './internal/kube.js';
import { deployPaths } from './internal/paths.js';

// The checks must be able to fail: each case breaks one rule in an otherwise valid rendering and expects that
// rule's violation (and only problems mentioning it).
const production = renderKustomization(`${deployPaths.overlays}/production`);

type Json = Record<string, unknown>;

function mutated(edit: (objects: Json[]) => void): KubeObject[] {
  const copy = structuredClone(production) as unknown as Json[];
  edit(copy);
  return copy as unknown as KubeObject[];
}
function find(objects: Json[], kind: string): Json {
  const o = objects.find((x) => x['kind'] === kind);
  if (o === undefined) throw new Error(`no ${kind}`);
  return o;
}
function podSpec(objects: Json[]): Json {
  return ((find(objects, 'Deployment')['spec'] as Json)['template'] as Json)['spec'] as Json;
}
function container(objects: Json[]): Json {
  return (podSpec(objects)['containers'] as Json[])[0]!;
}
function setEnv(objects: Json[], name: string, value: string | undefined): void {
  const c = container(objects);
  const env = (c['env'] as Json[]).filter((e) => e['name'] !== name);
  c['env'] = value === undefined ? env : [...env, { name, value }];
}

const cases: readonly (readonly [string, (o: Json[]) => void, RegExp])[] = [
  ['a single replica', (o) => ((find(o, 'Deployment')['spec'] as Json)['replicas'] = 1), /replicas 1 < 2/],
  ['readiness on /healthz', (o) => (((container(o)['readinessProbe'] as Json)['httpGet'] as Json)['path'] = '/healthz'), /readinessProbe must GET \/ready/],
  ['liveness on /ready', (o) => (((container(o)['livenessProbe'] as Json)['httpGet'] as Json)['path'] = '/ready'), /livenessProbe must GET \/healthz/],
  ['a probe on another port', (o) => (((container(o)['livenessProbe'] as Json)['httpGet'] as Json)['port'] = 8080), /livenessProbe must target port 9201/],
  ['root', (o) => {
    (podSpec(o)['securityContext'] as Json)['runAsNonRoot'] = false;
    (container(o)['securityContext'] as Json)['runAsNonRoot'] = false;
  }, /runAsNonRoot must be true/],
  ['a writable root filesystem', (o) => ((container(o)['securityContext'] as Json)['readOnlyRootFilesystem'] = false), /readOnlyRootFilesystem/],
  ['capabilities kept', (o) => ((container(o)['securityContext'] as Json)['capabilities'] = { drop: ['NET_RAW'] }), /drop ALL/],
  ['no /tmp volume', (o) => (container(o)['volumeMounts'] = []), /\/tmp must be an emptyDir/],
  ['no memory limit', (o) => ((container(o)['resources'] as Json)['limits'] = {}), /limits.memory/],
  ['a heap above the memory limit', (o) => setEnv(o, 'NODE_OPTIONS', '--max-old-space-size=4096'), /max-old-space-size=4096 must stay below/],
  ['no topology spread', (o) => delete podSpec(o)['topologySpreadConstraints'], /topologySpreadConstraints/],
  ['a literal database URI', (o) => setEnv(o, 'PROMHA_DB_URI', 'postgres://u:p@db/promha'), /PROMHA_DB_URI must come from a Secret/],
  ['no preStop', (o) => delete container(o)['lifecycle'], /preStop sleep/],
  ['a grace period shorter than the shutdown timeout', (o) => setEnv(o, 'PROMHA_SHUTDOWN_TIMEOUT', '1m'), /terminationGracePeriodSeconds 45 must exceed preStop 5s \+ PROMHA_SHUTDOWN_TIMEOUT 60s/],
  ['a malformed shutdown timeout', (o) => setEnv(o, 'PROMHA_SHUTDOWN_TIMEOUT', '25 seconds'), /not a duration/],
  ['an implicit shutdown timeout', (o) => setEnv(o, 'PROMHA_SHUTDOWN_TIMEOUT', undefined), /set --shutdown-timeout/],
  ['args that replace the image CMD', (o) => (container(o)['args'] = ['--shutdown-timeout=10s']), /command\/args/],
  ['other HA label names', (o) => setEnv(o, 'PROMHA_HA_REPLICA_LABEL', 'replica'), /HA labels cluster\/replica, expected cluster\/__replica__/],
  ['a Service on another port', (o) => (((find(o, 'Service')['spec'] as Json)['ports'] as Json[])[0]!['port'] = 80), /Service must listen on 9201/],
  ['no PodDisruptionBudget', (o) => o.splice(o.indexOf(find(o, 'PodDisruptionBudget')), 1), /no PodDisruptionBudget/],
  ['no ServiceMonitor', (o) => o.splice(o.indexOf(find(o, 'ServiceMonitor')), 1), /no ServiceMonitor/],
  ['no PrometheusRule', (o) => o.splice(o.indexOf(find(o, 'PrometheusRule')), 1), /no PrometheusRule/],
  ['an autoscaler down to one', (o) => ((find(o, 'HorizontalPodAutoscaler')['spec'] as Json)['minReplicas'] = 1), /minReplicas must be at least 2/],
];

describe('deployment conventions', () => {
  it('accept the production overlay as rendered', () => {
    expect(checkConventions(production, SERVICE_DEFAULT_LABELS)).toEqual([]);
  });

  it.each(cases)('reject %s', (_name, edit, expected) => {
    const problems = checkConventions(mutated(edit), SERVICE_DEFAULT_LABELS);
    expect(problems.some((p) => expected.test(p)), problems.join('\n')).toBe(true);
  });

  it('reject Prometheus external labels that differ from promha\'s', () => {
    const prometheus = {
      apiVersion: 'monitoring.coreos.com/v1',
      kind: 'Prometheus',
      metadata: { name: 'ha', namespace: 'monitoring' },
      spec: { replicas: 1, remoteWrite: [{ url: 'http://elsewhere:9201/api/v1/write' }] },
    } satisfies KubeObject;
    const problems = checkConventions([...production, prometheus], SERVICE_DEFAULT_LABELS);
    expect(problems).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/replicas >= 2/),
        expect.stringMatching(/external labels prometheus\/prometheus_replica differ from promha's cluster\/__replica__/),
        expect.stringMatching(/remoteWrite must target http:\/\/promha\.promha\.svc:9201\/api\/v1\/write/),
      ]),
    );
  });
});

describe('schema validation', () => {
  it('rejects a malformed object and an unknown kind', () => {
    const [broken] = mutated((o) => {
      ((container(o)['ports'] as Json[])[0]!)['containerPort'] = 'http';
      o.splice(0, o.length, find(o, 'Deployment'));
    });
    expect(validateKubeObject(broken!)).toMatch(/containerPort must be integer/);
    expect(validateKubeObject({ apiVersion: 'example.com/v1', kind: 'Widget', metadata: { name: 'w' } })).toMatch(/no schema known/);
  });
});

describe('parseDurationMs', () => {
  it('parses the service flag format and rejects anything else', () => {
    expect(parseDurationMs('25s')).toBe(25_000);
    expect(parseDurationMs('1m30s')).toBe(90_000);
    expect(parseDurationMs('500ms')).toBe(500);
    expect(() => parseDurationMs('25')).toThrow(/not a duration/);
    expect(() => parseDurationMs('')).toThrow(/not a duration/);
  });
});
