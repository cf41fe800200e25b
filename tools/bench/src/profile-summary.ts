/**
 * Summarises a V8 `.cpuprofile` (from `node --cpu-prof`, e.g. the ingest child of `npm run bench -- vm` with
 * PROMHA_BENCH_PROFILE=<dir>): self time by component and the top functions by self time.
 *
 *   node --import tsx tools/bench/src/profile-summary.ts <file.cpuprofile> [top=30] [--after=SECONDS]
 *
 * `--after` drops the samples of the first SECONDS of the profile (start-up and the warm-up round, which the vm
 * bench prints), so the summary shows the steady state.
 */
import { readFileSync } from 'node:fs';

interface ProfileNode {
  readonly id: number;
  readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number };
  readonly children?: readonly number[];
}

interface Profile {
  readonly nodes: readonly ProfileNode[];
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
  readonly startTime: number;
}

/** Component of a call frame, by where its code lives. */
export function component(functionName: string, url: string): string {
  if (functionName === '(garbage collector)') return 'GC';
  if (functionName === '(idle)') return 'idle';
  if (functionName === '(program)') return 'V8/native (program)';
  if (url.includes('/libs/codec/')) return 'codec (decode/encode)';
  if (url.includes('/libs/storage/')) return 'storage (writer, series cache, COPY encode)';
  if (url.includes('/libs/election/')) return 'election (HA decide/clip)';
  if (url.includes('/apps/ingest/')) return 'ingest (pipeline, HA split, routes)';
  if (/node_modules\/(pg|pg-protocol|pg-types|pgpass|pg-pool|pg-copy-streams)\//.test(url)) return 'node-postgres';
  if (/node_modules\/(fastify|@fastify|avvio|find-my-way|light-my-request|pino|fast-json-stringify)/.test(url)) return 'fastify';
  if (url.includes('node_modules/prom-client/')) return 'prom-client';
  if (url.includes('node_modules/tsx/') || url.includes('node_modules/esbuild/')) return 'tsx (loader)';
  if (url.startsWith('node:') || url === '') return functionName === '' ? 'V8/native' : 'node core / native';
  return 'other';
}

export interface Summary {
  readonly totalMs: number;
  readonly byComponent: readonly (readonly [string, number])[];
  readonly byFunction: readonly (readonly [string, number])[];
}

export function summarise(profile: Profile, afterSeconds = 0): Summary {
  const byId = new Map<number, ProfileNode>();
  for (const n of profile.nodes) byId.set(n.id, n);
  const self = new Map<number, number>();
  let at = 0; // microseconds since the profile started
  for (let i = 0; i < profile.samples.length; i++) {
    at += profile.timeDeltas[i] ?? 0;
    if (at < afterSeconds * 1e6) continue;
    const id = profile.samples[i]!;
    self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0) / 1000);
  }
  const comp = new Map<string, number>();
  const fn = new Map<string, number>();
  let totalMs = 0;
  for (const [id, ms] of self) {
    const f = byId.get(id)?.callFrame;
    if (f === undefined) continue;
    totalMs += ms;
    const c = component(f.functionName, f.url);
    comp.set(c, (comp.get(c) ?? 0) + ms);
    const file = f.url.replace(/^.*\/(node_modules\/|libs\/|apps\/)/, '$1');
    const key = `${f.functionName || '(anonymous)'} ${file}:${f.lineNumber + 1}`;
    fn.set(key, (fn.get(key) ?? 0) + ms);
  }
  const sorted = (m: Map<string, number>): [string, number][] => [...m.entries()].sort((a, b) => b[1] - a[1]);
  return { totalMs, byComponent: sorted(comp), byFunction: sorted(fn) };
}

function main(): void {
  const file = process.argv[2];
  if (file === undefined) {
    process.stderr.write('usage: profile-summary <file.cpuprofile> [top]\n');
    process.exitCode = 2;
    return;
  }
  const rest = process.argv.slice(3);
  const top = Number(rest.find((a) => !a.startsWith('--')) ?? 30);
  const after = Number(rest.find((a) => a.startsWith('--after='))?.slice('--after='.length) ?? 0);
  const s = summarise(JSON.parse(readFileSync(file, 'utf8')) as Profile, after);
  const busy = s.totalMs - (s.byComponent.find(([c]) => c === 'idle')?.[1] ?? 0);
  const pct = (ms: number): string => `${((ms / busy) * 100).toFixed(1).padStart(5)}%`;
  process.stdout.write(`profile ${file}: ${(s.totalMs / 1000).toFixed(1)} s sampled${after > 0 ? ` after ${after} s` : ''}, ${(busy / 1000).toFixed(1)} s busy (percent of busy)\n\nby component:\n`);
  for (const [c, ms] of s.byComponent) if (c !== 'idle') process.stdout.write(`  ${pct(ms)}  ${(ms / 1000).toFixed(2).padStart(7)} s  ${c}\n`);
  process.stdout.write(`\ntop ${top} functions by self time:\n`);
  for (const [f, ms] of s.byFunction.slice(0, top)) {
    if (f.startsWith('(idle)')) continue;
    process.stdout.write(`  ${pct(ms)}  ${f}\n`);
  }
}

if (process.argv[1] !== undefined && import.meta.url.endsWith(process.argv[1].replace(/^.*\//, ''))) main();
