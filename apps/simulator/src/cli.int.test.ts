import { spawn } from 'node:child_process';
import { chmod, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const MAIN = resolve(dirname(fileURLToPath(import.meta.url)), 'main.ts');

describe('npm run sim -- --virtual --seeds (the process)', () => {
  it('on SIGTERM finishes the seed it runs, prints the summary, stops its embedded PostgreSQL and deletes its data', async () => {
    // Its own temp dir, readable by the postgres user embedded PostgreSQL runs as, to see what is left behind.
    const tmp = await mkdtemp(join(tmpdir(), 'promha-sim-signal-'));
    await chmod(tmp, 0o755);
    try {
      const child = spawn(process.execPath, ['--conditions=@promha/source', '--import', 'tsx', MAIN, '--virtual', '--seeds', '1-1000'], {
        env: { ...process.env, TMPDIR: tmp },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      let err = '';
      child.stdout.on('data', (b: Buffer) => (out += b.toString()));
      const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
      // Once the database is up, seeds are running: stop then.
      await new Promise<void>((r) =>
        child.stderr.on('data', (b: Buffer) => {
          err += b.toString();
          if (err.includes('embedded PostgreSQL on port')) r();
        }),
      );
      child.kill('SIGTERM');
      const code = await exited;
      console.log(`exit ${code}; stdout: ${out.trim()}`);
      expect(code).toBe(130);
      expect(err).toContain('terminated: stopping after the current seed');
      expect(out).toMatch(/^\d+ seeds, 0 failed \(stopped before seed \d+\)$/m);
      expect((await readdir(tmp)).filter((f) => f.startsWith('promha-sim-pg-'))).toEqual([]);
    } finally {
      await rm(tmp, { recursive: true, force: true });
    }
  }, 180_000);
});
