/**
 * The database fails, stalls and comes back while several senders write through two ingest processes: its busy
 * backends are terminated again and again, it is restarted in fast and in immediate mode, and it is stopped
 * (SIGSTOP) for longer than the write timeout. Neither process may exit, every answer must be 204, 202 or 503
 * (never a hang, never another status), `/ready` must follow the database, and once the senders have resent
 * everything answered 503 (as Prometheus does), every sample is stored exactly once. One sender sends a new series
 * in every batch (a rollout that relabels every pod), so interning meets the faults too.
 */
import { createFreshDatabase, startFaultyPostgres, type FaultyPostgres } from '@promha/storage/testing';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort, http, startIngestProcess, type IngestProcess } from './testing/process-kit.js';
import { series, writeBody } from './testing/testkit.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
let server: FaultyPostgres | undefined;
const processes: IngestProcess[] = [];

afterAll(async () => {
  for (const p of processes) await p.stop();
  await server?.destroy();
}, 60_000);

/** One sender: batches of `SAMPLES` samples at consecutive timestamps, each resent after a 503 until answered 2xx. */
interface Sender {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  /** Labels added per batch: a new series in every batch. */
  readonly perBatch?: (i: number) => Readonly<Record<string, string>>;
  /** Batches answered 2xx, by status. */
  readonly acked: Map<number, number>;
  readonly statuses: number[];
}

const SAMPLES = 20;

describe('database faults under load', () => {
  it('keeps both processes up, answers 204/202/503 only, follows the database with /ready, and stores every sample once', async () => {
    server = await startFaultyPostgres();
    const uri = await createFreshDatabase(server.uri);
    const args = [
      `--db.uri=${uri}`,
      '--log.level=warn',
      '--db.write-timeout=2s',
      '--db.lease-step-timeout=1s',
      '--db.connect-timeout=1s',
      '--ha.lease-refresh=500ms',
      // No takeover during the test: the leader's resends decide what is stored.
      '--ha.lease-timeout=1h',
      // Each batch is 20 ms of data time, so a sender on a fast machine runs minutes ahead of the wall clock within
      // the test; past the default 10-minute future grace its batch would be refused 400 for good.
      '--limits.future-grace=1d',
    ];
    const ports = [await freePort(), await freePort()];
    for (const port of ports) processes.push(await startIngestProcess(port, args));

    const base = Math.floor(Date.now() / 1000) * 1000;
    const senders: Sender[] = [
      { name: 'plain-a', labels: { sender: 'a' }, acked: new Map(), statuses: [] },
      { name: 'plain-b', labels: { sender: 'b' }, acked: new Map(), statuses: [] },
      { name: 'ha-r1', labels: { cluster: 'c', __replica__: 'r1' }, acked: new Map(), statuses: [] },
      { name: 'ha-r2', labels: { cluster: 'c', __replica__: 'r2' }, acked: new Map(), statuses: [] },
      { name: 'churn', labels: { sender: 'churn' }, perBatch: (i) => ({ pod: `p-${i}` }), acked: new Map(), statuses: [] },
    ];
    const body = (s: Sender, i: number): Buffer =>
      writeBody([
        series('faults', { ...s.labels, ...s.perBatch?.(i) }, Array.from({ length: SAMPLES }, (_, k) => [base + i * SAMPLES + k, i] as const)),
      ]);

    let writing = true;
    const logs = (): string => processes.map((p, k) => `--- ingest ${k}:\n${p.log()}`).join('\n');
    // A process that exits fails the test at once (with its last log lines), instead of senders resending forever.
    const exited = (): boolean => processes.some((p) => p.exitedUnasked());
    // Like one Prometheus shard: one request in flight, the same batch resent after a 503 until answered 2xx.
    const run = async (s: Sender, k: number, first: number): Promise<void> => {
      for (let i = first; writing; i++) {
        for (let attempt = 0; ; attempt++) {
          const port = ports[(i + attempt + k) % ports.length]!;
          const status = await http(port, 'POST', '/write', body(s, i), 30_000);
          s.statuses.push(status);
          if (status === 204 || status === 202) {
            s.acked.set(i, status);
            break;
          }
          if (exited()) return;
          // Anything but 503 is a failure the assertions report; keep going so that the run ends.
          await sleep(status === 503 ? 100 : 500);
        }
      }
    };
    // The HA pair's first batch goes alone, so r1 creates the lease and stays the leader.
    const r1 = senders[2]!;
    expect(await http(ports[0]!, 'POST', '/write', body(r1, 0))).toBe(204);
    r1.acked.set(0, 204);
    const sending = senders.map((s, k) => run(s, k, s === r1 ? 1 : 0));

    // /ready of both processes, sampled throughout.
    const readiness: { at: string; ready: boolean[] }[] = [];
    let phase = 'start';
    let watching = true;
    const watch = (async () => {
      while (watching) {
        const r = await Promise.all(ports.map((p) => http(p, 'GET', '/ready', undefined, 10_000)));
        readiness.push({ at: phase, ready: r.map((x) => x === 200) });
        await sleep(100);
      }
    })();
    const sawNotReady = (at: string): boolean[] =>
      ports.map((_, k) => readiness.some((x) => x.at === at && !x.ready[k]));
    const untilReady = async (): Promise<void> => {
      for (let i = 0; i < 600 && !exited(); i++) {
        const last = readiness[readiness.length - 1];
        if (last !== undefined && last.at === phase && last.ready.every(Boolean)) return;
        await sleep(100);
      }
      throw new Error(`not ready again after ${phase}:\n${logs()}`);
    };

    try {
      await sleep(2000);

      phase = 'terminate';
      const dba = new pg.Pool({ connectionString: uri, max: 1 }).on('error', () => undefined);
      for (let n = 0; n < 6; n++) {
        await dba.query(
          "SELECT pg_terminate_backend(pid) FROM (SELECT pid FROM pg_stat_activity WHERE application_name LIKE 'promha-ingest%' AND state <> 'idle' AND pid <> pg_backend_pid() OFFSET 0) busy",
        );
        await sleep(400);
      }
      await dba.end();

      for (const mode of ['fast', 'immediate'] as const) {
        phase = `restart-${mode}`;
        await server.shutdown(mode);
        await sleep(3000);
        await server.start();
        phase = `after-${mode}`;
        await untilReady();
      }

      phase = 'sigstop';
      await server.pause();
      // Longer than the write timeout plus its grace, and than the lease-step timeout plus the refresh.
      await sleep(8000);
      await server.resume();
      phase = 'after-sigstop';
      await untilReady();
      await sleep(1000);
    } finally {
      writing = false;
      await Promise.all(sending);
      watching = false;
      await watch;
    }

    for (const p of processes) expect(p.exitedUnasked(), logs()).toBe(false);
    const statuses = senders.flatMap((s) => s.statuses);
    expect(
      statuses.filter((x) => x !== 204 && x !== 202 && x !== 503),
      logs(),
    ).toEqual([]);
    // The faults reached the senders: otherwise this test proves nothing.
    expect(statuses.filter((x) => x === 503).length).toBeGreaterThan(0);
    for (const at of ['restart-fast', 'restart-immediate', 'sigstop']) expect(sawNotReady(at), at).toEqual([true, true]);

    // Every batch answered 2xx is stored exactly once: raw rows, before compaction or any read-time dedupe.
    const check = new pg.Client({ connectionString: uri });
    await check.connect();
    try {
      const r = await check.query<{ labels: string; t: string; n: string }>(`
        WITH s AS (
          SELECT s.id, string_agg(l.name || '=' || l.value, ',' ORDER BY l.name COLLATE "C") AS labels
          FROM promha.series s JOIN promha.label l ON l.id = ANY(s.label_ids) GROUP BY s.id
        ), x AS (
          SELECT u.s, u.t FROM promha.sample_chunk c CROSS JOIN LATERAL unnest(c.series, c.ts) AS u(s, t)
          UNION ALL
          SELECT c.series, u.t FROM promha.series_chunk c CROSS JOIN LATERAL unnest(c.ts) AS u(t)
        )
        SELECT s.labels, x.t::text AS t, count(*)::text AS n FROM x JOIN s ON s.id = x.s
        WHERE strpos(s.labels, '__name__=faults,') = 1 GROUP BY 1, 2`);
      const stored = new Map<string, Map<number, number>>();
      for (const row of r.rows) {
        const m = stored.get(row.labels) ?? new Map<number, number>();
        m.set(Number(row.t), Number(row.n));
        stored.set(row.labels, m);
      }
      const expectOnce = (labels: string, batches: readonly number[]): void => {
        const got = stored.get(labels) ?? new Map<number, number>();
        const want = batches.flatMap((i) => Array.from({ length: SAMPLES }, (_, k) => base + i * SAMPLES + k));
        expect([...got.values()].filter((n) => n !== 1), `${labels}: samples stored more than once`).toEqual([]);
        expect(want.filter((t) => !got.has(t)), `${labels}: acknowledged samples missing`).toEqual([]);
      };
      for (const s of senders.slice(0, 2)) {
        expect([...s.acked.values()].every((x) => x === 204)).toBe(true);
        expectOnce(`__name__=faults,sender=${s.labels['sender']!}`, [...s.acked.keys()]);
      }
      // Every batch of the churning sender is a series of its own, interned while the faults ran.
      const churn = senders[4]!;
      expect(churn.acked.size).toBeGreaterThan(0);
      expect(churn.statuses.filter((x) => x === 503).length, 'the faults reached the churning sender').toBeGreaterThan(0);
      expect([...churn.acked.values()].every((x) => x === 204)).toBe(true);
      for (const i of churn.acked.keys()) expectOnce(`__name__=faults,pod=p-${i},sender=churn`, [i]);
      // The HA pair: the leader's 204s are stored once, under the cluster's series without the replica label.
      const leaderBatches = [...r1.acked.entries()].filter(([, st]) => st === 204).map(([i]) => i);
      expect(leaderBatches.length).toBeGreaterThan(0);
      expectOnce('__name__=faults,cluster=c', leaderBatches);
    } finally {
      await check.end();
    }
  }, 600_000);
});
