/**
 * The promha ingest service as a real child process (the same entry point as `npm start`), and a small client
 * for the endpoints the e2e suite looks at: `/ready`, `/api/v1/ha/history`, `/api/v1/ha/clusters`, `/metrics`.
 */
import { join, resolve } from 'node:path';
import { GiveUp, spawnManaged, waitFor, type ManagedProcess, type ProcessSet } from './processes.js';

/** The repository root: the ingest runs from source through tsx, as `npm start` does. */
export const REPO_ROOT = resolve(import.meta.dirname, '../../..');

export interface IngestInstance {
  readonly name: string;
  readonly port: number;
  readonly url: string;
  readonly process: ManagedProcess;
}

export interface StartIngestOptions {
  readonly name: string;
  readonly dbUri: string;
  readonly port: number;
  /** Directory for the log file. */
  readonly dir: string;
  /** Further flags (lease timing, HA label names). */
  readonly flags: readonly string[];
  readonly processes: ProcessSet;
  readonly readyTimeoutMs?: number;
}

/** Starts `apps/ingest/src/main.ts` and waits until `/ready` answers 200 (migrated, leases loaded). */
export async function startIngest(o: StartIngestOptions): Promise<IngestInstance> {
  const child = o.processes.add(
    spawnManaged(
      o.name,
      process.execPath,
      [
        '--conditions=@promha/source',
        '--import',
        'tsx',
        'apps/ingest/src/main.ts',
        `--db.uri=${o.dbUri}`,
        `--web.listen-address=127.0.0.1:${o.port}`,
        '--log.level=info',
        ...o.flags,
      ],
      join(o.dir, `${o.name}.log`),
      { cwd: REPO_ROOT },
    ),
  );
  const url = `http://127.0.0.1:${o.port}`;
  await waitFor(
    `${o.name} /ready`,
    async () => {
      if (!child.running()) throw new GiveUp(`${o.name} exited (${await child.exited}):\n${await child.logTail()}`);
      const res = await fetch(`${url}/ready`, { signal: AbortSignal.timeout(2_000) });
      return res.status === 200 ? true : undefined;
    },
    { timeoutMs: o.readyTimeoutMs ?? 90_000, context: () => child.logTail() },
  );
  return { name: o.name, port: o.port, url, process: child };
}

/** A lease as `/api/v1/ha/clusters` answers it (the wire shape, not the election's type: this is a black box). */
export interface LeaseJson {
  readonly cluster: string;
  readonly leader: string;
  readonly epoch: number;
  readonly start: number;
  readonly until: number;
}

/** A leader change as `/api/v1/ha/history` answers it. */
export interface LeaseChangeJson {
  readonly cluster: string;
  readonly epoch: number;
  readonly oldLeader: string | null;
  readonly newLeader: string;
  readonly oldStart: number | null;
  readonly oldUntil: number | null;
  readonly newStart: number;
  readonly wallTime: number;
  readonly reason: string;
  /** Takeovers: the old lease's until when taken over, how the splice was chosen, samples filled per instance. */
  readonly leaseUntil?: number | null;
  readonly splice?: string | null;
  readonly filled?: Readonly<Record<string, number>>;
}

async function getJson<T>(url: string): Promise<T> {
  const res = await fetch(url, { signal: AbortSignal.timeout(10_000) });
  const body = (await res.json()) as { status?: string; data?: T; error?: string };
  if (!res.ok || body.status !== 'success' || body.data === undefined) throw new Error(`GET ${url}: HTTP ${res.status} ${body.error ?? ''}`);
  return body.data;
}

/** Leader changes of `cluster` as recorded in the database, newest first. */
export function haHistory(instance: IngestInstance, cluster: string): Promise<readonly LeaseChangeJson[]> {
  return getJson(`${instance.url}/api/v1/ha/history?${new URLSearchParams({ cluster }).toString()}`);
}

/** The lease of `cluster` as this instance knows it. */
export async function haLease(instance: IngestInstance, cluster: string): Promise<LeaseJson | undefined> {
  const leases = await getJson<readonly LeaseJson[]>(`${instance.url}/api/v1/ha/clusters`);
  return leases.find((l) => l.cluster === cluster);
}

/** `promha_ha_deduplicated_samples_total{cluster=...}` of one instance (0 before the first deduplication). */
export async function deduplicatedSamples(instance: IngestInstance, cluster: string): Promise<number> {
  const res = await fetch(`${instance.url}/metrics`, { signal: AbortSignal.timeout(10_000) });
  if (!res.ok) throw new Error(`GET ${instance.url}/metrics: HTTP ${res.status}`);
  return metricValue(await res.text(), 'promha_ha_deduplicated_samples_total', { cluster }) ?? 0;
}

/**
 * The value of the sample `name{labels}` in a Prometheus text exposition whose labels are exactly `labels`, or
 * undefined when there is none.
 */
export function metricValue(exposition: string, name: string, labels: Readonly<Record<string, string>>): number | undefined {
  const escape = (v: string): string => v.replaceAll('\\', '\\\\').replaceAll('\n', '\\n').replaceAll('"', '\\"');
  const wanted = Object.entries(labels)
    .map(([k, v]) => `${k}="${escape(v)}"`)
    .sort();
  for (const line of exposition.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    const close = line.lastIndexOf('}');
    const labelText = close < 0 ? '' : line.slice(name.length + 1, close);
    // Label values here never contain `",` so a split on it is exact enough for the suite's own label values.
    const have = labelText === '' ? [] : labelText.split(/(?<="),/).sort();
    if (have.length !== wanted.length || have.some((l, i) => l !== wanted[i])) continue;
    const value = Number(line.slice((close < 0 ? name.length : close + 1)).trim().split(' ')[0]);
    if (!Number.isNaN(value)) return value;
  }
  return undefined;
}
