import { defineProject } from 'vitest/config';
import { promhaTestDefaults } from '../../vitest.shared.mjs';

const defaults = promhaTestDefaults(import.meta.dirname);
// As in libs/storage: pass only the workspace condition and `node` to the worker's Node, so that pg's own
// `require('pg-pool')` does not pick pg-pool's ESM build.
const conditions = ['@promha/source', 'node'];

// No shared PostgreSQL globalSetup: each simulator run starts its own embedded server so that the
// postgres-restart fault can stop and start it (PROMHA_TEST_DB_URI, when set, is used instead).
export default defineProject({
  ...defaults,
  ssr: { resolve: { conditions, externalConditions: ['@promha/source'] } },
});
