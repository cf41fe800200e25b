/**
 * Real Prometheus servers for the e2e suite: locating the binary, writing configurations, starting a server on
 * a data directory of its own, and querying its HTTP API.
 */
import { accessSync, constants } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { delimiter, join } from 'node:path';
import { GiveUp, spawnManaged, waitFor, type ManagedProcess, type ProcessSet } from './processes.js';

/** Finds `prometheus` on PATH; throws, saying how to install it, when it is not there. Never a reason to skip. */
export function findPrometheus(path = process.env['PATH'] ?? ''): string {
  for (const dir of path.split(delimiter)) {
    if (dir === '') continue;
    const candidate = join(dir, 'prometheus');
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // Not in this directory (or not executable): keep looking.
    }
  }
  throw new Error(
    'the e2e suite needs a real Prometheus, and no `prometheus` binary is on PATH. Install Debian\'s `prometheus` ' +
      'package without starting its daemon (as .ci/run does): `apt-get install --no-install-recommends prometheus`, ' +
      'then `systemctl disable --now prometheus` if it started.',
  );
}

export interface ScrapeJob {
  readonly job: string;
  readonly targets: readonly string[];
  /** URL query parameters sent with every scrape (they are not part of the target's labels). */
  readonly params?: Readonly<Record<string, string>>;
}

export interface PrometheusConfigOptions {
  readonly scrapeIntervalMs: number;
  readonly externalLabels?: Readonly<Record<string, string>>;
  readonly scrapeJobs?: readonly ScrapeJob[];
  readonly remoteWriteUrl?: string;
  /** Remote-write batch send deadline: how long a partial batch waits before it is sent. */
  readonly batchSendDeadlineMs?: number;
  readonly remoteReadUrl?: string;
}

/**
 * A Prometheus configuration. YAML is a superset of JSON, so the file is written as JSON: no YAML library and
 * no quoting rules to get wrong. One remote-write shard keeps each replica's batches in data-time order.
 */
export function prometheusConfig(o: PrometheusConfigOptions): string {
  const interval = `${o.scrapeIntervalMs}ms`;
  const config = {
    global: {
      scrape_interval: interval,
      scrape_timeout: interval,
      evaluation_interval: interval,
      ...(o.externalLabels === undefined ? {} : { external_labels: o.externalLabels }),
    },
    scrape_configs: (o.scrapeJobs ?? []).map((j) => ({
      job_name: j.job,
      ...(j.params === undefined ? {} : { params: Object.fromEntries(Object.entries(j.params).map(([k, v]) => [k, [v]])) }),
      static_configs: [{ targets: j.targets }],
    })),
    ...(o.remoteWriteUrl === undefined
      ? {}
      : {
          remote_write: [
            {
              url: o.remoteWriteUrl,
              remote_timeout: '10s',
              queue_config: {
                min_shards: 1,
                max_shards: 1,
                max_samples_per_send: 500,
                capacity: 2500,
                batch_send_deadline: `${o.batchSendDeadlineMs ?? 250}ms`,
                min_backoff: '50ms',
                max_backoff: '1s',
              },
            },
          ],
        }),
    ...(o.remoteReadUrl === undefined ? {} : { remote_read: [{ url: o.remoteReadUrl, read_recent: true, remote_timeout: '30s' }] }),
  };
  return `${JSON.stringify(config, null, 2)}\n`;
}

export interface PrometheusServer {
  readonly name: string;
  readonly port: number;
  readonly dataDir: string;
  readonly process: ManagedProcess;
}

export interface StartPrometheusOptions {
  readonly bin: string;
  readonly name: string;
  /** Holds the config file, the TSDB directory and the log; reused by a restart. */
  readonly dir: string;
  readonly port: number;
  readonly config: string;
  readonly processes: ProcessSet;
  readonly readyTimeoutMs?: number;
}

/** Starts (or restarts, on the same directory) a Prometheus server and waits for `/-/ready`. */
export async function startPrometheus(o: StartPrometheusOptions): Promise<PrometheusServer> {
  await mkdir(o.dir, { recursive: true });
  const configFile = join(o.dir, 'prometheus.yml');
  const dataDir = join(o.dir, 'data');
  await writeFile(configFile, o.config);
  const child = o.processes.add(
    spawnManaged(
      o.name,
      o.bin,
      [
        `--config.file=${configFile}`,
        `--storage.tsdb.path=${dataDir}`,
        `--web.listen-address=127.0.0.1:${o.port}`,
      ],
      join(o.dir, 'prometheus.log'),
    ),
  );
  await waitFor(
    `${o.name} /-/ready`,
    async () => {
      if (!child.running()) throw new GiveUp(`${o.name} exited (${await child.exited}):\n${await child.logTail()}`);
      const res = await fetch(`http://127.0.0.1:${o.port}/-/ready`, { signal: AbortSignal.timeout(2_000) });
      return res.ok ? true : undefined;
    },
    { timeoutMs: o.readyTimeoutMs ?? 60_000, context: () => child.logTail() },
  );
  return { name: o.name, port: o.port, dataDir, process: child };
}

/** One element of an instant query's result (`vector` or `matrix`). */
export interface QueryResult {
  readonly metric: Readonly<Record<string, string>>;
  readonly value?: readonly [number, string];
  readonly values?: readonly (readonly [number, string])[];
}

export interface QueryAnswer {
  readonly resultType: string;
  readonly result: readonly QueryResult[];
}

/** Evaluates `query` at `timeMs` through Prometheus's `/api/v1/query`. */
export async function instantQuery(port: number, query: string, timeMs: number): Promise<QueryAnswer> {
  const params = new URLSearchParams({ query, time: (timeMs / 1000).toFixed(3) });
  const res = await fetch(`http://127.0.0.1:${port}/api/v1/query?${params.toString()}`, { signal: AbortSignal.timeout(30_000) });
  const body = (await res.json()) as { status?: string; error?: string; data?: QueryAnswer };
  if (!res.ok || body.status !== 'success' || body.data === undefined) {
    throw new Error(`query ${query} at ${timeMs}: HTTP ${res.status} ${body.error ?? JSON.stringify(body)}`);
  }
  return body.data;
}
