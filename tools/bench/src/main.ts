/**
 * `npm run bench [-- NAME...]`: runs every benchmark module under ./benches (or those whose names start with one
 * of the NAMEs), prints one JSON line per measurement on stdout and a table on stderr.
 */
import { readdir, readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { Bench, Measurement } from './harness.js';

const here = dirname(fileURLToPath(import.meta.url));

async function loadBenches(): Promise<Bench[]> {
  const dir = join(here, 'benches');
  const files = (await readdir(dir)).filter((f) => /\.(ts|js)$/.test(f) && !f.endsWith('.d.ts') && !f.includes('.test.'));
  const benches: Bench[] = [];
  for (const f of files.sort()) {
    const mod = (await import(pathToFileURL(join(dir, f)).href)) as { benches?: readonly Bench[] };
    benches.push(...(mod.benches ?? []));
  }
  return benches;
}

function table(rows: readonly Measurement[]): string {
  const head = ['bench', 'value', 'unit', 'baseline', 'baseline value', 'ratio'];
  const cells = rows.map((m) => [m.bench, fmt(m.value), m.unit, m.baseline, fmt(m.baselineValue), `${m.ratio}x`]);
  const widths = head.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const line = (c: readonly string[]) => c.map((x, i) => (i === 1 || i === 4 || i === 5 ? x.padStart(widths[i]!) : x.padEnd(widths[i]!))).join('  ');
  return [line(head), widths.map((w) => '-'.repeat(w)).join('  '), ...cells.map(line)].join('\n');
}

function fmt(x: number): string {
  return Math.abs(x) >= 1000 ? Math.round(x).toLocaleString('en-US') : String(x);
}

/** What the real-Prometheus e2e suite wrote about its last run (`e2e/README.md`): one entry per scenario. */
interface FailoverRecord {
  readonly scenario: string;
  readonly gapMs: number;
  readonly boundMs: number;
  readonly leaseTimeoutMs: number;
  readonly leaseRefreshMs: number;
  readonly scrapeIntervalMs: number;
  readonly measuredAt: string;
}

const FAILOVER_FILE = 'out/e2e/failover.json';

/**
 * The failover gap is measured by the e2e suite against real Prometheus processes (a minute of real time per
 * scenario), not by a benchmark round; the table quotes its last run so that one command shows every figure.
 */
async function failoverLines(): Promise<string> {
  let records: FailoverRecord[];
  try {
    records = JSON.parse(await readFile(FAILOVER_FILE, 'utf8')) as FailoverRecord[];
  } catch {
    return `failover gap: no ${FAILOVER_FILE} yet; \`npx nx test @promha/e2e\` measures it with a real Prometheus HA pair\n`;
  }
  return records
    .map(
      (r) =>
        `failover gap (real Prometheus, e2e ${r.scenario}, ${r.measuredAt}): ${fmt(r.gapMs)} ms of data time ` +
        `(bound ${fmt(r.boundMs)} ms; lease timeout ${r.leaseTimeoutMs} ms, refresh ${r.leaseRefreshMs} ms, scrape ${r.scrapeIntervalMs} ms)\n`,
    )
    .join('');
}

async function main(): Promise<void> {
  const filters = process.argv.slice(2).filter((a) => !a.startsWith('-'));
  const all = await loadBenches();
  const chosen = filters.length === 0 ? all : all.filter((b) => filters.some((f) => b.name.startsWith(f)));
  if (chosen.length === 0) {
    process.stderr.write(`no benchmark matches ${filters.join(' ')}; known: ${all.map((b) => b.name).join(', ')}\n`);
    process.exitCode = 2;
    return;
  }
  const results: Measurement[] = [];
  for (const b of chosen) {
    process.stderr.write(`running ${b.name} ...\n`);
    for await (const m of b.run()) {
      results.push(m);
      process.stdout.write(`${JSON.stringify(m)}\n`);
      process.stderr.write(`  ${m.bench}: ${fmt(m.value)} ${m.unit} vs ${m.baseline} ${fmt(m.baselineValue)} (${m.ratio}x)\n`);
    }
  }
  process.stderr.write(`\n${table(results)}\n`);
  if (filters.length === 0) process.stderr.write(`\n${await failoverLines()}`);
}

await main();
