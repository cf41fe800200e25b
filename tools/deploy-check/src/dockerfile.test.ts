import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { deployPaths } from './internal/paths.js';

// No container engine runs here, so the image definition is checked statically: the properties the image must
// have (deploy/README.md) are each one instruction, and each is asserted below.
interface Instruction {
  readonly op: string;
  readonly args: string;
}

function instructions(text: string): Instruction[] {
  return text
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'))
    .map((l) => {
      const m = /^(\S+)\s+(.*)$/.exec(l);
      return { op: (m?.[1] ?? l).toUpperCase(), args: m?.[2] ?? '' };
    });
}

const all = instructions(readFileSync(deployPaths.dockerfile, 'utf8'));
const stages = all.reduce<Instruction[][]>((acc, i) => (i.op === 'FROM' ? [...acc, [i]] : (acc.at(-1)?.push(i), acc)), []);
const runtime = stages.at(-1) ?? [];
const arg = (name: string): string | undefined => all.find((i) => i.op === 'ARG' && i.args.startsWith(`${name}=`))?.args.slice(name.length + 1);

describe('deploy/Dockerfile', () => {
  it('is multi-stage with a glibc Node 20 runtime', () => {
    expect(stages.length).toBeGreaterThanOrEqual(2);
    const base = runtime[0]!.args.split(/\s+/)[0]!.replace('${NODE_IMAGE}', arg('NODE_IMAGE') ?? '');
    expect(base).toMatch(/^node:20(\.\d+)*-(bookworm|bullseye)(-slim)?(@sha256:[0-9a-f]+)?$/);
  });

  it('builds with npm ci and installs only production dependencies for the runtime', () => {
    const runs = all.filter((i) => i.op === 'RUN').map((i) => i.args);
    expect(runs.some((r) => /npm ci(?!.*--omit=dev)/.test(r))).toBe(true);
    expect(runs.some((r) => /tsc --build apps\/ingest/.test(r) || /nx run(-many)? .*build/.test(r))).toBe(true);
    expect(runs.some((r) => /npm ci .*--omit=dev/.test(r))).toBe(true);
    expect(runtime.some((i) => i.op === 'RUN' && /npm (ci|install)(?!.*--omit=dev)/.test(i.args))).toBe(false);
  });

  it('runs the built service as a non-root user under an init process with NODE_ENV=production', () => {
    expect(runtime.some((i) => i.op === 'ENV' && /\bNODE_ENV=production\b/.test(i.args))).toBe(true);
    const user = runtime.filter((i) => i.op === 'USER').at(-1)?.args ?? 'root';
    expect(user).toMatch(/^[1-9]\d*(:\d+)?$/); // numeric, so Kubernetes' runAsNonRoot can verify it
    expect(runtime.filter((i) => i.op === 'ENTRYPOINT').at(-1)?.args).toMatch(/^\[\s*"[^"]*tini"/);
    expect(JSON.parse(runtime.filter((i) => i.op === 'CMD').at(-1)?.args ?? 'null')).toEqual(['node', '--max-semi-space-size=64', 'apps/ingest/dist/main.js']);
    expect(runtime.some((i) => i.op === 'EXPOSE' && i.args === '9201')).toBe(true);
  });

  it('has a .dockerignore that keeps host node_modules and build output out of the context', () => {
    const ignore = readFileSync(deployPaths.dockerignore, 'utf8').split('\n').map((l) => l.trim());
    expect(ignore).toEqual(expect.arrayContaining(['**/node_modules', '**/dist', '.git']));
  });
});
