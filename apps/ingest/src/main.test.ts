import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '../../..');
const run = (...args: string[]) =>
  spawnSync(process.execPath, ['--conditions=@promha/source', '--import', 'tsx', 'apps/ingest/src/main.ts', ...args], {
    cwd: ROOT,
    encoding: 'utf8',
    timeout: 60_000,
  });

describe('main', () => {
  it('exits 2 naming the problem for an invalid configuration', () => {
    const r = run('--ha.lease-timeout=5s', '--ha.lease-refresh=10s');
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('--ha.lease-refresh (10000ms) must be less than --ha.lease-timeout (5000ms)');
  });

  it('prints every flag with --help and exits 0', () => {
    const r = run('--help');
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('--web.listen-address');
    expect(r.stdout).toContain('PROMHA_SHUTDOWN_TIMEOUT');
  });
});
