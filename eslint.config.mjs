import nx from '@nx/eslint-plugin';
import tseslint from 'typescript-eslint';

/** Test code: tests, `testing/` folders and `testing.ts` entries (`./testing` subpath exports), test utilities. */
const TEST_CODE = ['**/*.test.ts', '**/testing/**', '**/testing.ts', '**/test-util/**', '**/vitest-global-setup.ts'];
const VITEST = { name: 'vitest', message: 'vitest belongs in *.test.ts files and testing/ code' };
const VITEST_SUBPATHS = { group: ['vitest/*'], message: 'vitest belongs in *.test.ts files and testing/ code' };

export default [
  ...nx.configs['flat/base'],
  ...nx.configs['flat/typescript'],
  {
    ignores: ['**/dist', '**/out-tsc', '**/vitest.config.*.timestamp*', '**/src/generated/**', '.promha/**'],
  },
  {
    files: ['**/*.ts'],
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    plugins: { '@typescript-eslint': tseslint.plugin },
    rules: {
      ...Object.assign({}, ...tseslint.configs.strictTypeChecked.map((c) => c.rules ?? {})),
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/restrict-template-expressions': ['error', { allowNumber: true, allowBoolean: true }],
      '@typescript-eslint/no-non-null-assertion': 'off',
      '@typescript-eslint/no-unnecessary-condition': 'off',
      '@typescript-eslint/no-confusing-void-expression': 'off',
      '@typescript-eslint/prefer-literal-enum-member': 'off',
      '@typescript-eslint/no-unnecessary-type-parameters': 'off',
      '@typescript-eslint/unified-signatures': 'off',
    },
  },
  {
    files: ['**/*.ts'],
    rules: {
      '@nx/enforce-module-boundaries': [
        'error',
        {
          enforceBuildableLibDependency: true,
          allow: [],
          depConstraints: [
            {
              sourceTag: 'type:codec',
              onlyDependOnLibsWithTags: ['type:codec'],
              bannedExternalImports: ['pg', 'pg-*', 'fastify', '@fastify/*', 'prom-client'],
            },
            {
              sourceTag: 'type:domain',
              onlyDependOnLibsWithTags: ['type:domain'],
              bannedExternalImports: ['pg', 'pg-*', 'fastify', '@fastify/*', 'prom-client'],
            },
            {
              sourceTag: 'type:adapter',
              onlyDependOnLibsWithTags: ['type:domain', 'type:codec'],
              bannedExternalImports: ['fastify', '@fastify/*'],
            },
            {
              sourceTag: 'type:app',
              onlyDependOnLibsWithTags: ['type:adapter', 'type:domain', 'type:codec', 'type:testing'],
            },
            {
              sourceTag: 'type:testing',
              onlyDependOnLibsWithTags: ['type:adapter', 'type:domain', 'type:codec', 'type:app', 'type:testing'],
            },
          ],
        },
      ],
    },
  },
  // The testing/production boundary: vitest only in test code, anywhere.
  {
    files: ['**/*.ts'],
    ignores: TEST_CODE,
    rules: { 'no-restricted-imports': ['error', { paths: [VITEST], patterns: [VITEST_SUBPATHS] }] },
  },
];

/**
 * Production code (the libraries and the service; appended by their own eslint configs, since `nx lint` runs
 * ESLint inside each project) imports no test code. Test tools (e2e, tools/, the simulator) may use `./testing`.
 */
export const productionCode = [
  {
    files: ['**/*.ts'],
    ignores: TEST_CODE,
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: [
            VITEST,
            ...['fast-check', 'testcontainers', 'protobufjs', 'snappyjs'].map((name) => ({
              name,
              message: 'a test or benchmark dependency: production code must not import it',
            })),
          ],
          patterns: [
            VITEST_SUBPATHS,
            {
              group: ['@promha/*/testing', '@promha/*/testing/*', '@testcontainers/*'],
              message: '`./testing` entries are for tests and test tools, not production code',
            },
            {
              regex: '(^|/)(testing|test-util)(/|\\.js$)',
              message: 'production code must not import test code (testing/, test-util/)',
            },
          ],
        },
      ],
    },
  },
];

/** Library code also writes nothing to the console (the service owns logging). */
export const libraryCode = [...productionCode, { files: ['**/*.ts'], ignores: TEST_CODE, rules: { 'no-console': 'error' } }];
