/**
 * The primary process of `--workers` > 1: starts the embedded PostgreSQL when no URI is given, supervises the
 * workers (workers.ts), and on SIGTERM/SIGINT shuts them down before the database. Exits 0 only when every
 * worker shut down cleanly.
 */
import { resolve } from 'node:path';
import closeWithGrace from 'close-with-grace';
import pino from 'pino';
import type { Config } from '../config.js';
import { createSupervisorMetrics } from '../metrics.js';
import { redactUri, type Libraries } from '../service.js';
import { heapLimit, heapLimitGiven, memoryAvailable, planCaches, workerNodeFlags } from './cache-budget.js';
import { logfmtDestination } from './logfmt.js';
import { Supervisor } from './workers.js';

export async function runPrimary(config: Config, libs: Pick<Libraries, 'startEmbeddedPostgres'>): Promise<void> {
  const log = pino({ level: config.logLevel }, config.logFormat === 'logfmt' ? logfmtDestination() : process.stdout);
  const embedded = config.dbUri === undefined ? await libs.startEmbeddedPostgres({ dataDir: resolve(config.dbEmbeddedDir) }) : undefined;
  if (embedded !== undefined) {
    log.info({ database: redactUri(embedded.uri) }, `embedded PostgreSQL in ${resolve(config.dbEmbeddedDir)} serves the workers`);
  }
  // Each worker's heap is sized for its share of the cache memory target, unless node was given a heap limit.
  const caches = planCaches(config, memoryAvailable(), undefined);
  const ownHeap = heapLimitGiven(process.execArgv, process.env['NODE_OPTIONS']);
  const heapMiB = Math.max(caches.heapMiB, Math.ceil(heapLimit() / 2 ** 20));
  log.info(
    { seriesMax: caches.seriesMax, workerHeapMiB: ownHeap ? undefined : heapMiB },
    `each worker caches up to ${caches.seriesMax} series${ownHeap ? '' : ` in a heap of ${heapMiB} MiB`}`,
  );
  const supervisor = new Supervisor({
    workers: config.workers,
    env: embedded === undefined ? {} : { PROMHA_DB_URI: embedded.uri },
    execArgv: workerNodeFlags(heapMiB, process.execArgv, process.env['NODE_OPTIONS']),
    log,
    metrics: createSupervisorMetrics(),
    shutdownTimeoutMs: config.shutdownTimeoutMs,
  });

  // As the single process does (main.ts), with close-with-grace; no deadline of its own: the supervisor bounds the
  // workers' shutdown by --shutdown-timeout and kills the ones that overrun it.
  let startFailed = false;
  const closer = closeWithGrace(
    {
      delay: false,
      logger: { error: (e: unknown) => log.error({ err: e }, 'shutdown failed') },
      onSecondSignal: (signal) => log.error({ signal }, 'second signal: exiting without waiting for the workers'),
    },
    async ({ signal, err }) => {
      if (err !== undefined) log.error({ err }, 'uncaught error: shutting down');
      log.info({ signal: signal ?? (startFailed ? 'start-up failure' : 'error'), timeoutMs: config.shutdownTimeoutMs }, 'shutting down: every worker finishes its in-flight requests');
      const clean = await supervisor.stop();
      await embedded?.stop().catch((e: unknown) => log.error({ err: e }, 'stopping the embedded PostgreSQL failed'));
      if (!clean) throw new Error('a worker did not shut down cleanly');
      if (startFailed) throw new Error('workers failed to start');
      log.info('shut down cleanly');
    },
  );

  try {
    await supervisor.start();
  } catch (e: unknown) {
    log.error({ err: e }, 'workers failed to start');
    startFailed = true;
    closer.close();
    return;
  }
  log.info({ workers: config.workers }, `${config.workers} workers serving ${config.listenAddress.host}:${config.listenAddress.port}`);
}
