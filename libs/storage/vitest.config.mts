import { defineProject } from 'vitest/config';
import { promhaTestDefaults } from '../../vitest.shared.mjs';

const defaults = promhaTestDefaults(import.meta.dirname);
// Vitest hands the SSR conditions to the worker's Node as `--conditions`; an explicit `import` there makes
// Node's own `require('pg-pool')` (inside pg, CommonJS) pick pg-pool's ESM build and break. Node adds
// `import`/`require` itself, so only the workspace condition and `node` are passed on.
const conditions = ['@promha/source', 'node'];

// One PostgreSQL server per run; each *.int.test.ts creates its own database on it.
export default defineProject({
  ...defaults,
  ssr: { resolve: { conditions, externalConditions: ['@promha/source'] } },
  test: { ...defaults.test, globalSetup: ['./src/vitest-global-setup.ts'] },
});
