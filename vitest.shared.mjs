// Shared Vitest settings for every project: resolve workspace packages to their TypeScript source
// (the `@promha/source` export condition) and keep runs serial enough for a 2-core machine.
export function promhaTestDefaults(root) {
  const conditions = ['@promha/source', 'node', 'import', 'module', 'default'];
  return {
    root,
    resolve: { conditions },
    ssr: { resolve: { conditions, externalConditions: ['@promha/source'] } },
    test: {
      name: root.split('/').pop(),
      include: ['src/**/*.test.ts'],
      environment: 'node',
      passWithNoTests: false,
      testTimeout: 60_000,
      hookTimeout: 120_000,
      reporters: ['default'],
    },
  };
}
