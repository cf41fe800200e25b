import { defineProject } from 'vitest/config';
import { promhaTestDefaults } from '../../vitest.shared.mjs';

const defaults = promhaTestDefaults(import.meta.dirname);
// As in libs/storage: pass only the workspace condition and `node` to the worker's Node, so that pg's own
// `require('pg-pool')` does not pick pg-pool's ESM build.
const conditions = ['@promha/source', 'node'];

// One PostgreSQL server per run for the *.int.test.ts files (each creates its own databases on it).
export default defineProject({
  ...defaults,
  ssr: { resolve: { conditions, externalConditions: ['@promha/source'] } },
  test: { ...defaults.test, globalSetup: ['../../libs/storage/src/vitest-global-setup.ts'] },
});
