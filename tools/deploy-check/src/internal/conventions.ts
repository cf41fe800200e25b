import { parseDurationMs } from './duration.js';
import type { KubeObject } from './kube.js';

/** The HA label names an overlay must configure promha (and its Prometheus servers) with. */
export interface HaLabels {
  readonly cluster: string;
  readonly replica: string;
}

/** promha's own defaults (`--ha.cluster-label`, `--ha.replica-label`). */
export const SERVICE_DEFAULT_LABELS: HaLabels = { cluster: 'cluster', replica: '__replica__' };
/** The Prometheus Operator's defaults for `prometheusExternalLabelName` / `replicaExternalLabelName`. */
export const OPERATOR_DEFAULT_LABELS: HaLabels = { cluster: 'prometheus', replica: 'prometheus_replica' };

const PORT = 9201;

type Rec = Readonly<Record<string, unknown>>;

function rec(v: unknown): Rec | undefined {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Rec) : undefined;
}
function arr(v: unknown): readonly unknown[] {
  return Array.isArray(v) ? (v as unknown[]) : [];
}
function at(v: unknown, ...path: readonly string[]): unknown {
  let cur: unknown = v;
  for (const p of path) cur = rec(cur)?.[p];
  return cur;
}
function str(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined;
}
function num(v: unknown): number | undefined {
  return typeof v === 'number' ? v : undefined;
}

/** Kubernetes quantities as MiB (only the binary and plain-byte forms these manifests use). */
function quantityMiB(q: unknown): number | undefined {
  const m = /^(\d+)(Ki|Mi|Gi)?$/.exec(String(q));
  if (m === null) return undefined;
  const n = Number(m[1]);
  return m[2] === 'Gi' ? n * 1024 : m[2] === 'Mi' ? n : m[2] === 'Ki' ? n / 1024 : n / 1024 / 1024;
}

function matches(selector: unknown, labels: Rec | undefined): boolean {
  const want = rec(at(selector, 'matchLabels')) ?? rec(selector);
  if (want === undefined || Object.keys(want).length === 0 || labels === undefined) return false;
  return Object.entries(want).every(([k, v]) => labels[k] === v);
}

/** A container setting given by flag (`--name=value` in args) or by its PROMHA_* variable: flag wins. */
function setting(container: Rec, flag: string): { value: string; from: string } | undefined {
  for (const a of arr(container['args'])) {
    const m = /^--([a-z0-9.-]+)=(.*)$/s.exec(String(a));
    if (m !== null && m[1] === flag) return { value: m[2]!, from: `--${flag}` };
  }
  const envName = `PROMHA_${flag.toUpperCase().replace(/[.-]/g, '_')}`;
  for (const e of arr(container['env'])) {
    if (at(e, 'name') === envName) {
      const v = str(at(e, 'value'));
      return v === undefined ? { value: '', from: `${envName} (valueFrom)` } : { value: v, from: envName };
    }
  }
  return undefined;
}

function preStopSeconds(container: Rec): number | undefined {
  const preStop = at(container, 'lifecycle', 'preStop');
  const sleepAction = num(at(preStop, 'sleep', 'seconds'));
  if (sleepAction !== undefined) return sleepAction;
  const cmd = arr(at(preStop, 'exec', 'command')).map(String);
  const m = cmd.length === 2 && cmd[0]!.endsWith('sleep') ? /^\d+$/.exec(cmd[1]!) : null;
  return m === null ? undefined : Number(m[0]);
}

function probePortOk(probe: unknown, container: Rec): boolean {
  const port = at(probe, 'httpGet', 'port');
  if (port === PORT) return true;
  return arr(container['ports']).some((p) => at(p, 'name') === port && at(p, 'containerPort') === PORT);
}

/**
 * Checks the rendered objects of one overlay against promha's deployment conventions. Returns every violation
 * (empty when all hold), each naming the object and the rule, so one run reports all problems at once.
 */
export function checkConventions(objects: readonly KubeObject[], labels: HaLabels): string[] {
  const problems: string[] = [];
  const fail = (o: KubeObject, msg: string): void => {
    problems.push(`${o.kind} ${o.metadata.namespace ?? ''}/${o.metadata.name}: ${msg}`);
  };
  const of = (kind: string): KubeObject[] => objects.filter((o) => o.kind === kind);

  const deployments = of('Deployment').filter((d) => d.metadata.labels?.['app.kubernetes.io/name'] === 'promha');
  if (deployments.length !== 1) problems.push(`expected exactly one promha Deployment, found ${deployments.length}`);
  const hpas = of('HorizontalPodAutoscaler');

  for (const d of deployments) {
    const podSpec = rec(at(d, 'spec', 'template', 'spec')) ?? {};
    const podLabels = rec(at(d, 'spec', 'template', 'metadata', 'labels'));
    const replicas = num(at(d, 'spec', 'replicas')) ?? 1;
    if (replicas < 2) fail(d, `replicas ${replicas} < 2: one instance is a single point of failure`);
    const container = rec(arr(podSpec['containers'])[0]);
    if (container === undefined) {
      fail(d, 'no container');
      continue;
    }
    if (container['command'] !== undefined || container['args'] !== undefined) {
      // `command` would bypass tini; `args` would replace the image's CMD (node apps/ingest/dist/main.js).
      fail(d, 'container sets command/args: configure promha with PROMHA_* environment variables instead');
    }
    if (at(container, 'readinessProbe', 'httpGet', 'path') !== '/ready') fail(d, 'readinessProbe must GET /ready');
    if (at(container, 'livenessProbe', 'httpGet', 'path') !== '/healthz') {
      fail(d, 'livenessProbe must GET /healthz (never a database check: an outage must not restart every pod)');
    }
    for (const probe of ['readinessProbe', 'livenessProbe']) {
      if (!probePortOk(container[probe], container)) fail(d, `${probe} must target port ${PORT}`);
    }
    if (!arr(container['ports']).some((p) => at(p, 'containerPort') === PORT)) fail(d, `container must expose ${PORT}`);

    const podSc = rec(podSpec['securityContext']) ?? {};
    const sc = rec(container['securityContext']) ?? {};
    if (podSc['runAsNonRoot'] !== true && sc['runAsNonRoot'] !== true) fail(d, 'runAsNonRoot must be true');
    if (podSc['runAsUser'] === 0 || sc['runAsUser'] === 0) fail(d, 'runAsUser must not be 0');
    if (sc['readOnlyRootFilesystem'] !== true) fail(d, 'readOnlyRootFilesystem must be true');
    if (sc['allowPrivilegeEscalation'] !== false) fail(d, 'allowPrivilegeEscalation must be false');
    if (!arr(at(sc, 'capabilities', 'drop')).includes('ALL')) fail(d, 'capabilities must drop ALL');
    const tmp = arr(container['volumeMounts']).find((m) => at(m, 'mountPath') === '/tmp');
    const tmpVolume = arr(podSpec['volumes']).find((v) => at(v, 'name') === at(tmp, 'name'));
    if (tmp === undefined || at(tmpVolume, 'emptyDir') === undefined) fail(d, '/tmp must be an emptyDir mount');

    const requests = rec(at(container, 'resources', 'requests'));
    const memLimit = quantityMiB(at(container, 'resources', 'limits', 'memory'));
    if (requests?.['cpu'] === undefined || requests['memory'] === undefined) fail(d, 'resources.requests cpu and memory');
    if (memLimit === undefined) fail(d, 'resources.limits.memory must be set');
    const nodeOptions = str(arr(container['env']).map((e) => rec(e)).find((e) => e?.['name'] === 'NODE_OPTIONS')?.['value']);
    const heap = /--max-old-space-size=(\d+)/.exec(nodeOptions ?? '');
    if (heap !== null && memLimit !== undefined && Number(heap[1]) >= memLimit) {
      fail(d, `--max-old-space-size=${heap[1]} must stay below the memory limit (${memLimit}Mi)`);
    }

    const spread = arr(podSpec['topologySpreadConstraints']);
    if (spread.length === 0) fail(d, 'topologySpreadConstraints must spread the replicas');
    for (const t of spread) {
      if (!matches(at(t, 'labelSelector'), podLabels)) fail(d, 'a topologySpreadConstraint does not select the pods');
    }

    const dbUri = arr(container['env']).find((e) => at(e, 'name') === 'PROMHA_DB_URI');
    if (at(dbUri, 'valueFrom', 'secretKeyRef', 'key') === undefined) fail(d, 'PROMHA_DB_URI must come from a Secret');

    const sleep = preStopSeconds(container);
    if (sleep === undefined || sleep <= 0) fail(d, 'a preStop sleep must let endpoints drain before SIGTERM');
    const shutdown = setting(container, 'shutdown-timeout');
    const grace = num(podSpec['terminationGracePeriodSeconds']) ?? 30;
    if (shutdown === undefined) {
      fail(d, 'set --shutdown-timeout / PROMHA_SHUTDOWN_TIMEOUT explicitly so the grace period can be checked against it');
    } else {
      let shutdownS: number | undefined;
      try {
        shutdownS = parseDurationMs(shutdown.value) / 1000;
      } catch (e: unknown) {
        fail(d, `${shutdown.from}: ${e instanceof Error ? e.message : String(e)}`);
      }
      if (shutdownS !== undefined && grace <= (sleep ?? 0) + shutdownS) {
        fail(d, `terminationGracePeriodSeconds ${grace} must exceed preStop ${sleep ?? 0}s + ${shutdown.from} ${shutdownS}s`);
      }
    }

    const cluster = setting(container, 'ha.cluster-label')?.value ?? SERVICE_DEFAULT_LABELS.cluster;
    const replica = setting(container, 'ha.replica-label')?.value ?? SERVICE_DEFAULT_LABELS.replica;
    if (cluster !== labels.cluster || replica !== labels.replica) {
      fail(d, `HA labels ${cluster}/${replica}, expected ${labels.cluster}/${labels.replica}`);
    }

    const services = of('Service').filter((s) => matches(at(s, 'spec', 'selector'), podLabels));
    if (services.length === 0) fail(d, 'no Service selects the pods');
    for (const s of services) {
      if (!arr(at(s, 'spec', 'ports')).some((p) => at(p, 'port') === PORT)) fail(s, `Service must listen on ${PORT}`);
      const monitors = of('ServiceMonitor').filter((m) => matches(at(m, 'spec', 'selector'), s.metadata.labels));
      if (monitors.length === 0) fail(s, 'no ServiceMonitor selects the Service');
      for (const m of monitors) {
        const ok = arr(at(m, 'spec', 'endpoints')).some((e) => at(e, 'port') === 'http' && (at(e, 'path') ?? '/metrics') === '/metrics');
        if (!ok) fail(m, 'must scrape port http at /metrics');
      }
    }
    if (!of('PodDisruptionBudget').some((p) => matches(at(p, 'spec', 'selector'), podLabels))) {
      fail(d, 'no PodDisruptionBudget selects the pods');
    }
    for (const h of hpas.filter((h) => at(h, 'spec', 'scaleTargetRef', 'name') === d.metadata.name)) {
      if ((num(at(h, 'spec', 'minReplicas')) ?? 1) < 2) fail(h, 'minReplicas must be at least 2');
    }
  }
  if (of('PrometheusRule').length === 0) problems.push('no PrometheusRule: the alerts are not deployed');

  for (const p of of('Prometheus')) {
    if ((num(at(p, 'spec', 'replicas')) ?? 1) < 2) fail(p, 'an HA pair needs replicas >= 2');
    const promCluster = str(at(p, 'spec', 'prometheusExternalLabelName')) ?? OPERATOR_DEFAULT_LABELS.cluster;
    const promReplica = str(at(p, 'spec', 'replicaExternalLabelName')) ?? OPERATOR_DEFAULT_LABELS.replica;
    if (promCluster !== labels.cluster || promReplica !== labels.replica) {
      fail(p, `external labels ${promCluster}/${promReplica} differ from promha's ${labels.cluster}/${labels.replica}`);
    }
    const svc = deployments.length === 1 ? of('Service')[0] : undefined;
    const host = svc === undefined ? 'promha' : `${svc.metadata.name}.${svc.metadata.namespace ?? 'default'}.svc`;
    const writes = arr(at(p, 'spec', 'remoteWrite')).map((w) => str(at(w, 'url')) ?? '');
    if (!writes.some((u) => new RegExp(`^https?://${host.replace(/\./g, '\\.')}(\\.cluster\\.local)?:${PORT}/api/v1/write$`).test(u))) {
      fail(p, `remoteWrite must target http://${host}:${PORT}/api/v1/write (got ${writes.join(', ') || 'none'})`);
    }
  }
  return problems;
}
