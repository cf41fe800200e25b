import type { GatedOperation, StatementGate } from '@promha/storage';
import type { DatabaseAdmin } from '@promha/storage/testing';
import type { Prng } from '../prng.js';
import type { Timers } from '../replica.js';

/**
 * The deterministic mode's one scheduler: virtual time, every timer of every replica and ingest instance, and
 * every database operation. A run is a function of the seed because
 * - only one thing happens at a time: a timer fires, or one database operation is started or delivered, and the
 *   JavaScript it sets off runs to quiescence before the next thing happens;
 * - which queued database operation runs next, and how much virtual time passes before its result is delivered,
 *   is drawn from the seed;
 * - an operation that waits for a lock held by another session (seen with `pg_blocking_pids`) is left waiting
 *   while others run, so fencing and takeovers still interleave as in production; it is delivered once it has
 *   finished, in a scheduler step of its own.
 *
 * - work that happens outside the scheduler but must land between two of its steps (terminating sessions, and
 *   their connections seeing it) is handed to `outside()`: the run takes no step until it is over, so how long
 *   it takes on the wall clock decides nothing;
 * - no timeout runs on the wall clock: the storage's gated pools set none, and a statement that waits for a lock
 *   longer than its pool's statement timeout (virtual milliseconds) is cancelled, as PostgreSQL would.
 *
 * Owners (an ingest instance's number, or -1 for the replicas and the run itself) let a crash drop every timer
 * and operation of one instance at once.
 */
export class VirtualScheduler {
  private t = 0;
  private seq = 0;
  private readonly timers: TimerEntry[] = [];
  private readonly queued: Op[] = [];
  private readonly blocked: Op[] = [];
  private readonly dead = new Set<number>();
  private down = false;
  /** During a load burst, every operation's latency is multiplied by this. */
  private slowdown = 1;
  private stopped = false;
  /** Bumped by everything the run's JavaScript asks of the scheduler: how quiescence is recognised. */
  private activity = 0;
  /** Work handed to `outside()` that has not finished. */
  private readonly outsideWork = new Set<Promise<unknown>>();
  /** Counters for the report. */
  readonly stats = { timers: 0, operations: 0, lockWaits: 0, timeouts: 0, failedByFault: 0 };

  constructor(
    private readonly rng: Prng,
    private readonly admin: DatabaseAdmin,
    /** Virtual milliseconds between running an operation and delivering its result. */
    private readonly latency: () => number,
  ) {}

  now(): number {
    return this.t;
  }

  /** Timers for one owner. */
  timersFor(owner: number): Timers {
    return { now: () => this.t, after: (ms, fn) => this.after(owner, ms, fn) };
  }

  after(owner: number, ms: number, fn: () => void): () => void {
    const e: TimerEntry = { at: this.t + Math.max(0, ms), seq: this.seq++, owner, fn, cancelled: false };
    // Sorted by (at, seq): a binary search for the insertion point.
    let lo = 0;
    let hi = this.timers.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const m = this.timers[mid]!;
      if (m.at < e.at || (m.at === e.at && m.seq < e.seq)) lo = mid + 1;
      else hi = mid;
    }
    this.timers.splice(lo, 0, e);
    this.activity++;
    return () => {
      if (!e.cancelled) this.activity++;
      e.cancelled = true;
    };
  }

  /** The statement gate of one ingest instance's storage. */
  gateFor(owner: number): StatementGate {
    return {
      run: <T>(operation: GatedOperation, start: () => Promise<T>): Promise<T> =>
        new Promise<T>((resolve, reject) => {
          this.activity++;
          this.queued.push({
            owner,
            operation,
            start,
            resolve: resolve as (v: unknown) => void,
            reject,
            outcome: undefined,
            done: undefined,
            failWith: undefined,
          });
        }),
    };
  }

  /**
   * Work outside the scheduler (admin statements, a connection seeing its session terminated): no step is taken
   * until it has settled. It must not wait for the scheduler itself (a gated operation), or the run stalls.
   */
  outside<T>(work: Promise<T>): Promise<T> {
    const tracked = work.finally(() => {
      this.outsideWork.delete(tracked);
      this.activity++;
    });
    this.outsideWork.add(tracked);
    this.activity++;
    return tracked;
  }

  /** An instance crashed: its timers never fire and its operations are never answered. */
  kill(owner: number): void {
    this.dead.add(owner);
    this.activity++;
  }

  revive(owner: number): void {
    this.dead.delete(owner);
  }

  /** A burst of heavy load: every database operation takes `factor` times its drawn latency until it ends (1). */
  loadBurst(factor: number): void {
    this.slowdown = factor;
  }

  /** The database is down: connecting fails until `databaseUp()`. */
  databaseDown(): void {
    this.down = true;
  }

  databaseUp(): void {
    this.down = false;
  }

  /**
   * Operations that ran or are waiting for a lock on these sessions are answered with a broken connection, even
   * if the statement completed on the server: the client cannot know (a COMMIT whose outcome is unknown).
   */
  breakSessions(pids: ReadonlySet<number>): void {
    for (const op of [...this.inFlight, ...this.blocked]) {
      const pid = op.operation.backendPid;
      if (pid !== undefined && pids.has(pid)) op.failWith = connectionLost();
    }
  }

  stop(): void {
    this.stopped = true;
    this.activity++;
  }

  /** Runs until `stop()`; rejects when nothing can move although the run has not stopped. */
  async run(): Promise<void> {
    while (!this.stopped) {
      await this.settle();
      if (this.stopped) break;
      const ready = this.queued.filter((op) => !this.dead.has(op.owner));
      if (ready.length > 0) {
        const op = ready[this.rng.int(0, ready.length - 1)]!;
        this.queued.splice(this.queued.indexOf(op), 1);
        await this.execute(op);
        continue;
      }
      this.queued.length = 0;
      const next = this.nextTimer();
      if (next !== undefined) {
        this.t = Math.max(this.t, next.at);
        this.stats.timers++;
        next.fn();
        continue;
      }
      if (this.blocked.length > 0) {
        // Nothing else can move: only PostgreSQL can (its deadlock detector, a lock timeout).
        await this.recheckBlocked(true);
        continue;
      }
      throw new Error(`virtual run stalled at ${this.t} ms: no timer, no database operation, and the run did not stop`);
    }
  }

  private readonly inFlight = new Set<Op>();

  private nextTimer(): TimerEntry | undefined {
    while (this.timers.length > 0) {
      const e = this.timers.shift()!;
      if (!e.cancelled && !this.dead.has(e.owner)) return e;
    }
    return undefined;
  }

  /**
   * Lets the JavaScript set off by the last step run until it waits for the scheduler again: setImmediate turns
   * until nothing asked the scheduler for anything over several turns. Work that needs no timer and no database
   * (decoding, Fastify's request handling, promise chains) finishes within them.
   */
  private async settle(): Promise<void> {
    let stable = 0;
    while (stable < 4) {
      if (this.outsideWork.size > 0) {
        await Promise.allSettled([...this.outsideWork]);
        stable = 0;
        continue;
      }
      const before = this.activity;
      await new Promise<void>((r) => setImmediate(r));
      stable = before === this.activity ? stable + 1 : 0;
    }
  }

  private async execute(op: Op): Promise<void> {
    this.stats.operations++;
    if (op.operation.kind === 'connect' && this.down) {
      this.deliver(op, { ok: false, error: connectionRefused() });
      return;
    }
    this.inFlight.add(op);
    op.done = op.start().then(
      (value) => void (op.outcome = { ok: true, value }),
      (error: unknown) => void (op.outcome = { ok: false, error }),
    );
    if ((await this.waitDoneOrBlocked(op)) === 'blocked') {
      this.stats.lockWaits++;
      this.blocked.push(op);
      this.timeOut(op);
    } else this.finish(op);
    await this.recheckBlocked(false);
  }

  /**
   * The statement timeout on virtual time: still waiting for its lock when its pool's timeout has passed, the
   * statement is cancelled, and fails as PostgreSQL fails it (57014).
   */
  private timeOut(op: Op): void {
    const pid = op.operation.backendPid;
    const ms = op.operation.timeoutMs;
    if (pid === undefined || ms === undefined || ms <= 0) return;
    this.after(op.owner, ms, () => {
      if (!this.blocked.includes(op)) return;
      void this.outside(
        (async () => {
          // A cancel that lands as the lock is granted may find the statement past its wait: ask until it is over.
          while (op.outcome === undefined) {
            await this.admin.cancelStatement(pid).catch(() => undefined);
            let timer: NodeJS.Timeout | undefined;
            await Promise.race([op.done, new Promise((r) => (timer = setTimeout(r, 50)))]);
            clearTimeout(timer);
          }
          const i = this.blocked.indexOf(op);
          if (i < 0) return;
          this.blocked.splice(i, 1);
          this.stats.timeouts++;
          this.finish(op);
        })(),
      );
    });
  }

  private finish(op: Op): void {
    this.inFlight.delete(op);
    this.after(op.owner, this.latency() * this.slowdown, () => {
      this.deliver(op, op.failWith === undefined ? op.outcome! : { ok: false, error: op.failWith });
    });
  }

  private deliver(op: Op, outcome: Outcome): void {
    if (this.dead.has(op.owner)) return;
    this.activity++;
    if (outcome.ok) op.resolve(outcome.value);
    else {
      if (op.failWith !== undefined) this.stats.failedByFault++;
      op.reject(outcome.error);
    }
  }

  /** After each operation: a waiting one may have got its lock (and finished, or waits again). */
  private async recheckBlocked(untilOneMoves: boolean): Promise<void> {
    for (;;) {
      let moved = false;
      for (const op of [...this.blocked]) {
        if ((await this.waitDoneOrBlocked(op, true)) === 'done') {
          this.blocked.splice(this.blocked.indexOf(op), 1);
          this.finish(op);
          moved = true;
        }
      }
      if (moved || !untilOneMoves || this.blocked.length === 0) return;
      await new Promise((r) => setTimeout(r, 5));
    }
  }

  /**
   * `recheck`: the operation was waiting for a lock. PostgreSQL grants a lock to its waiters while the holder
   * commits, before the holder's client hears back, so `pg_blocking_pids` tells at once whether it still waits;
   * without asking, every waiting operation would cost a real wait at every step.
   */
  private async waitDoneOrBlocked(op: Op, recheck = false): Promise<'done' | 'blocked'> {
    if (recheck && op.outcome === undefined && op.operation.backendPid !== undefined) {
      const blocked = await this.admin.isBlocked(op.operation.backendPid).catch(() => false);
      if (op.outcome === undefined && blocked) return 'blocked';
    }
    for (let look = 0; ; look++) {
      // Most statements finish within 2 ms; a slower one costs a look at pg_blocking_pids, then one every 10 ms.
      // Lock waits are common (two instances extending one lease take turns on its row) and show in
      // pg_blocking_pids at once: a first look after 10 ms made them more than half of a run's wall time.
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([op.done, new Promise((r) => (timer = setTimeout(r, look === 0 ? 2 : 10)))]);
      clearTimeout(timer);
      if (op.outcome !== undefined) return 'done';
      const pid = op.operation.backendPid;
      if (pid === undefined) continue;
      const blocked = await this.admin.isBlocked(pid).catch(() => false);
      if (op.outcome !== undefined) return 'done';
      if (blocked) return 'blocked';
    }
  }
}

interface TimerEntry {
  readonly at: number;
  readonly seq: number;
  readonly owner: number;
  readonly fn: () => void;
  cancelled: boolean;
}

type Outcome = { readonly ok: true; readonly value: unknown } | { readonly ok: false; readonly error: unknown };

interface Op {
  readonly owner: number;
  readonly operation: GatedOperation;
  readonly start: () => Promise<unknown>;
  readonly resolve: (v: unknown) => void;
  readonly reject: (e: unknown) => void;
  outcome: Outcome | undefined;
  done: Promise<void> | undefined;
  failWith: Error | undefined;
}

function connectionLost(): Error {
  return Object.assign(new Error('Connection terminated unexpectedly (simulated: the session was killed)'), { code: '57P01' });
}

function connectionRefused(): Error {
  return Object.assign(new Error('connect ECONNREFUSED (simulated: PostgreSQL is down)'), { code: 'ECONNREFUSED' });
}
