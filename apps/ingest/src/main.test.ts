import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { describe, expect, it } from 'vitest';
import { ingestCommand, REPO_ROOT } from './testing/process-kit.js';

const run = (...args: string[]) =>
  spawnSync(process.execPath, ingestCommand(args), {
    cwd: REPO_ROOT,
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

  it('logs logfmt through the transport thread and, on SIGTERM, closes and exits 0 with its last lines written', async () => {
    // No database answers at port 1: the service listens anyway (start-up is retried in the background).
    const child = spawn(
      process.execPath,
      ingestCommand(['--log.format=logfmt', '--workers=1', '--web.listen-address=127.0.0.1:0', '--db.uri=postgres://promha@127.0.0.1:1/none']),
      { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'inherit'] },
    );
    let out = '';
    child.stdout.setEncoding('utf8');
    const listening = new Promise<void>((ok) => {
      child.stdout.on('data', (chunk: string) => {
        out += chunk;
        if (out.includes('msg="listening on')) ok();
      });
    });
    const exited = once(child, 'exit');
    await listening;
    child.kill('SIGTERM');
    const [code] = (await exited) as [number | null];
    expect(code).toBe(0);
    const lines = out.trimEnd().split('\n');
    for (const line of lines) expect(line).toMatch(/^ts=\S+ level=(info|warn) msg=/);
    expect(lines.at(-2)).toMatch(/level=info msg="shutting down: finishing in-flight requests" signal=SIGTERM/);
    expect(lines.at(-1)).toMatch(/level=info msg="shut down cleanly"$/);
  }, 60_000);
});
