import { mkdir, writeFile } from 'node:fs/promises';
import { encodeWriteRequest, snappyCompress } from '@promha/codec';
import { join } from 'node:path';
import { startFakeTier } from './fake-tier.js';
import { startRealTier } from './real-tier.js';
import { realTimers } from './real-timers.js';
import { reportHtml, reportJson } from './report.js';
import { runScenario, type Progress, type RunResult } from './runner.js';
import type { Scenario } from './scenario.js';
import type { IngestTier } from './tier.js';
import { encodeWriteRequestV1, snappyLiteral, type WireSeries } from './wire.js';

export interface SimulateOptions {
  readonly scenario: Scenario;
  readonly ingest: 'real' | 'fake';
  readonly dbUri?: string | undefined;
  readonly reportDir?: string | undefined;
  readonly gapSlackMs?: number;
  /** Which encoder builds the request bodies (default codec). */
  readonly wire?: 'codec' | 'own';
  readonly onProgress?: (p: Progress) => void;
  readonly log?: (line: string) => void;
  /** Called once the tier is up, so a signal handler can tear it down. */
  readonly onTier?: (tier: IngestTier | undefined) => void;
}

/**
 * Remote-write 1.0 bodies as Prometheus 2.42 sends them (protobuf, snappy block with back-references), built
 * with @promha/codec. `wire: 'own'` uses the simulator's independent minimal encoder instead (literal-only
 * snappy), a second implementation to cross-check the ingest's decoder against.
 */
export function encodeBody(series: readonly WireSeries[]): Uint8Array {
  return snappyCompress(
    encodeWriteRequest(
      {
        version: 1,
        metadata: [],
        series: series.map((s) => ({ labels: s.labels, samples: s.samples, histograms: [], exemplars: [] })),
      },
      1,
    ),
  );
}

export function encodeBodyOwn(series: readonly WireSeries[]): Uint8Array {
  return snappyLiteral(encodeWriteRequestV1(series));
}

/** Starts the ingest tier, runs one scenario against it, tears it down, and writes the report if asked. */
export async function simulate(options: SimulateOptions): Promise<RunResult> {
  const s = options.scenario;
  const wallNow = (): number => Date.now();
  const log = options.log ?? (() => undefined);
  const tier: IngestTier =
    options.ingest === 'fake'
      ? await startFakeTier({
          instances: s.ingesters,
          highAvailability: s.highAvailability,
          leaseTimeoutMs: s.leaseTimeoutMs,
          wallNow,
        })
      : await startRealTier({
          instances: s.ingesters,
          workers: s.workers,
          ...(options.dbUri === undefined ? {} : { dbUri: options.dbUri }),
          highAvailability: s.highAvailability,
          leaseTimeoutMs: s.leaseTimeoutMs,
          leaseRefreshMs: s.leaseRefreshMs,
          log,
        });
  options.onTier?.(tier);
  let result: RunResult;
  try {
    result = await runScenario(s, {
      tier,
      wallNow,
      timers: realTimers(),
      encode: options.wire === 'own' ? encodeBodyOwn : encodeBody,
      ...(options.onProgress === undefined ? {} : { onProgress: options.onProgress }),
      ...(options.gapSlackMs === undefined ? {} : { gapSlackMs: options.gapSlackMs }),
    });
  } finally {
    options.onTier?.(undefined);
    await tier.close();
  }
  if (options.reportDir !== undefined) {
    await mkdir(options.reportDir, { recursive: true });
    await writeFile(join(options.reportDir, 'report.json'), `${JSON.stringify(reportJson(result), null, 2)}\n`);
    await writeFile(join(options.reportDir, 'report.html'), reportHtml(result));
  }
  return result;
}
