/**
 * The process: resolve configuration, start the service, listen, and shut down in order on SIGTERM/SIGINT
 * (stop accepting, finish in-flight writes, close the pool, exit within --shutdown-timeout).
 *
 * `promha-ingest hash-password` reads a password on stdin and prints a line for --web.auth.basic-users-file.
 */
import cluster from 'node:cluster';
import { snappyDecoder, useNativeSnappy } from '@promha/codec';
import closeWithGrace from 'close-with-grace';
import { hashPassword } from './auth.js';
import { ConfigError, resolveConfig, type Config } from './config.js';
import { realLibraries } from './internal/libraries.js';
import { logfmtDestination } from './internal/logfmt.js';
import { runPrimary } from './internal/primary.js';
import { workerLink } from './internal/worker-link.js';
import { startService } from './service.js';

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk)));
  return Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
}

function loggerOptions(config: Config): object {
  const base = { level: config.logLevel };
  return config.logFormat === 'logfmt' ? { ...base, stream: logfmtDestination() } : base;
}

async function main(argv: readonly string[]): Promise<void> {
  if (argv[0] === 'hash-password') {
    const user = argv[1] ?? 'user';
    process.stdout.write(`${user}:${await hashPassword(await readStdin())}\n`);
    return;
  }
  let config: Config;
  try {
    const cli = resolveConfig(argv, process.env);
    if (cli.kind === 'help') {
      process.stdout.write(cli.text);
      return;
    }
    config = cli.config;
  } catch (e: unknown) {
    if (e instanceof ConfigError) {
      process.stderr.write(`promha-ingest: ${e.message}\n`);
      process.exitCode = 2;
      return;
    }
    throw e;
  }

  if (cluster.isPrimary && config.workers > 1) {
    await runPrimary(config, realLibraries());
    return;
  }
  useNativeSnappy(config.nativeSnappy);
  const link = workerLink();
  const service = await startService(config, realLibraries(), {
    logger: loggerOptions(config),
    ...(link === undefined ? {} : { exposition: link.exposition, othersReady: link.allReady }),
  });
  const log = service.app.log;
  // `snappy`: the decoder in use, `native` (the optional `snappy` package) or `js` where it is not installed.
  log.info({ database: service.database, highAvailability: config.highAvailability, snappy: snappyDecoder() }, `using database ${service.database}`);
  const { host, port } = config.listenAddress;
  const address = await service.app.listen({ host, port });
  log.info({ address }, `listening on ${address}`);

  // As fastify/demo's server.ts: on a signal (or an uncaught error) close the service once, within the shutdown
  // timeout, and exit 0 (1 after an uncaught error, a failed close, the timeout, or a second signal).
  const closer = closeWithGrace(
    {
      delay: config.shutdownTimeoutMs,
      logger: { error: (e: unknown) => log.error({ err: e }, 'shutdown failed') },
      onTimeout: () => log.error('shutdown timeout reached; exiting with requests still in flight'),
      onSecondSignal: (signal) => log.error({ signal }, 'second signal: exiting with requests still in flight'),
    },
    async ({ signal, err, manual }) => {
      if (err !== undefined) log.error({ err }, 'uncaught error: shutting down');
      log.info({ signal: signal ?? (manual === true ? 'primary' : 'error'), timeoutMs: config.shutdownTimeoutMs }, 'shutting down: finishing in-flight requests');
      await service.close();
      log.info('shut down cleanly');
    },
  );
  let asked = false;
  link?.attach(service.metrics.registry, () => service.ready(), (reason) => {
    if (asked) return;
    asked = true;
    log.info({ reason }, `stopping: ${reason}`);
    closer.close();
  });
}

main(process.argv.slice(2)).catch((e: unknown) => {
  process.stderr.write(`promha-ingest: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exit(1);
});
