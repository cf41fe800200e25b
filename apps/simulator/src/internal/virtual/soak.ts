import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CHECK_NAMES, violationScope } from '../checkers.js';
import { reproduceCommand, type CliOptions } from '../cli.js';
import { describeFault } from '../faults.js';
import { reportHtml, reportJson, summaryTable } from '../report.js';
import { POLICIES } from './policies.js';
import { prepareVirtualDatabase, runVirtual, type VirtualDatabase, type VirtualRunResult } from './run.js';
import { shrinkFaults } from './shrink.js';

export interface Output {
  readonly out: (text: string) => void;
  readonly err: (text: string) => void;
  /** Aborted (SIGINT, SIGTERM): the soak stops after the seed it is running; the database is stopped either way. */
  readonly stop?: AbortSignal;
}

/** The outcome of one seed: its run, and for a failure the shrunk fault schedule (ids kept). */
export interface SeedOutcome {
  readonly result: VirtualRunResult;
  readonly shrunk: readonly number[] | undefined;
}

/**
 * Runs one seed in the deterministic mode and, if it fails and shrinking is on, shrinks its fault schedule to the
 * fewest faults that still fail one of the same checks.
 */
export async function runSeed(cli: CliOptions, db: VirtualDatabase, seed: number, keepFaults = cli.keepFaults): Promise<SeedOutcome> {
  const scenario = { ...cli.scenario, seed };
  const policy = POLICIES[cli.electionPolicy];
  const run = (keep: ReadonlySet<number> | undefined): Promise<VirtualRunResult> =>
    runVirtual({
      scenario,
      db,
      gapSlackMs: 0,
      ...(policy === undefined ? {} : { policy }),
      ...(keep === undefined ? {} : { keepFaults: keep }),
    });
  const result = await run(keepFaults);
  if (result.check.violations.length === 0 || !cli.shrink || result.faults.length === 0) return { result, shrunk: undefined };
  const checks = new Set(result.check.violations.map((v) => v.check));
  const shrunk = await shrinkFaults(
    result.faults.map((f) => f.id),
    async (keep) => (await run(keep)).check.violations.some((v) => checks.has(v.check)),
  );
  return { result, shrunk };
}

function replay(cli: CliOptions, seed: number, keep?: ReadonlySet<number>): string {
  return reproduceCommand({ ...cli.scenario, seed }, { virtual: true, keepFaults: keep, electionPolicy: cli.electionPolicy });
}

/** `npm run sim -- --virtual [--seeds A-B]`: exit code 0 when every seed passed, 1 otherwise. */
export async function runVirtualCli(cli: CliOptions, o: Output): Promise<number> {
  const db = await prepareVirtualDatabase({ dbUri: cli.dbUri, log: (l) => o.err(`${l}\n`) });
  try {
    if (cli.seeds === undefined) return await single(cli, db, o);
    const t0 = Date.now();
    let failed = 0;
    let n = 0;
    for (let seed = cli.seeds.from; seed <= cli.seeds.to; seed++) {
      if (o.stop?.aborted === true) {
        o.out(`${n} seeds, ${failed} failed (stopped before seed ${seed})\n`);
        return failed === 0 ? 130 : 1;
      }
      const { result, shrunk } = await runSeed(cli, db, seed);
      n++;
      if (result.check.violations.length > 0) {
        failed++;
        const v = result.check.violations[0]!;
        o.out(
          `FAIL seed ${seed}: check ${v.check} (${CHECK_NAMES[v.check]}) ${violationScope(v)}: ${v.message.split('\n')[0]}${result.check.violations.length > 1 ? ` (+${result.check.violations.length - 1} more)` : ''}\n  replay: ${replay(cli, seed, cli.keepFaults)}\n`,
        );
        if (shrunk !== undefined) {
          o.out(
            `  shrunk to ${shrunk.length} of ${result.faults.length} fault(s): ${shrunk.map((id) => describeFault(result.faults.find((f) => f.id === id)!)).join('; ') || '(none: fails without faults)'}\n  replay shrunk: ${replay(cli, seed, new Set(shrunk))}\n`,
          );
        }
      }
      if ((seed - cli.seeds.from) % 50 === 49) o.err(`${n} seeds, ${failed} failed, ${((Date.now() - t0) / 1000).toFixed(0)} s\n`);
    }
    o.out(`${n} seeds, ${failed} failed\n`);
    return failed === 0 ? 0 : 1;
  } finally {
    await db.close();
  }
}

async function single(cli: CliOptions, db: VirtualDatabase, o: Output): Promise<number> {
  const seed = cli.scenario.seed;
  const t0 = Date.now();
  const { result, shrunk } = await runSeed(cli, db, seed);
  o.out(`\n${summaryTable(result)}\n\n`);
  o.out(`digest ${result.digest} (${((Date.now() - t0) / 1000).toFixed(1)} s wall, ${result.scheduler.operations} database operations, ${result.scheduler.timers} timers)\n`);
  if (cli.reportDir !== undefined) {
    await mkdir(cli.reportDir, { recursive: true });
    await writeFile(join(cli.reportDir, 'report.json'), `${JSON.stringify(Object.assign(reportJson(result) as object, { digest: result.digest }), null, 2)}\n`);
    await writeFile(join(cli.reportDir, 'report.html'), reportHtml(result));
    o.out(`report: ${cli.reportDir}/report.html\n`);
  }
  if (result.check.violations.length === 0) {
    o.out(`PASS seed ${seed}: no violations (${result.faults.length} faults)\n`);
    return 0;
  }
  o.out(`FAIL seed ${seed}: ${result.check.violations.length} violation(s)\n`);
  for (const v of result.check.violations) o.out(`  check ${v.check} (${CHECK_NAMES[v.check]}) ${violationScope(v)}: ${v.message}\n`);
  o.out(`fault schedule:\n${result.faults.map((f) => `  ${describeFault(f)}`).join('\n') || '  (none)'}\n`);
  o.out(`replay: ${replay(cli, seed, cli.keepFaults)}\n`);
  if (shrunk !== undefined) o.out(`shrunk to faults ${shrunk.map((id) => `#${id}`).join(', ') || '(none)'}: ${replay(cli, seed, new Set(shrunk))}\n`);
  return 1;
}
