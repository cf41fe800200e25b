/**
 * Child processes the e2e suite owns: each runs in its own process group (so a signal reaches whatever it
 * spawns), writes its output to a log file (so a slow test never blocks it on a full pipe, and a failure message
 * can quote it), and is tracked by a `ProcessSet` that stops everything it started, SIGKILL after a grace period.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { readFile } from 'node:fs/promises';

export interface ManagedProcess {
  readonly name: string;
  readonly pid: number;
  readonly logFile: string;
  /** Settles once the process has exited: its exit code, or the signal that ended it. */
  readonly exited: Promise<string>;
  running(): boolean;
  /** The last `lines` lines of the process's output. */
  logTail(lines?: number): Promise<string>;
  /** SIGKILL to the process group; resolves once the process has exited. */
  kill(): Promise<void>;
  /** SIGTERM to the process group, SIGKILL after `graceMs`; resolves once the process has exited. */
  stop(graceMs?: number): Promise<void>;
}

export interface SpawnOptions {
  readonly cwd?: string;
  readonly env?: NodeJS.ProcessEnv;
}

/** Starts `command` in a new process group with stdout and stderr appended to `logFile`. */
export function spawnManaged(name: string, command: string, args: readonly string[], logFile: string, options: SpawnOptions = {}): ManagedProcess {
  const fd = openSync(logFile, 'a');
  let child: ChildProcess;
  try {
    child = spawn(command, args, { cwd: options.cwd, env: options.env ?? process.env, stdio: ['ignore', fd, fd], detached: true });
  } finally {
    // The child holds its own copy of the descriptor.
    closeSync(fd);
  }
  const pid = child.pid;
  if (pid === undefined) throw new Error(`${name}: could not start ${command}`);
  let done = false;
  const exited = new Promise<string>((resolve) => {
    child.once('exit', (code, signal) => {
      done = true;
      resolve(signal ?? `exit ${code ?? '?'}`);
    });
    child.once('error', (e: Error) => {
      done = true;
      resolve(`spawn error: ${e.message}`);
    });
  });
  const signalGroup = (signal: NodeJS.Signals): void => {
    if (done) return;
    try {
      process.kill(-pid, signal);
    } catch (e: unknown) {
      // ESRCH: the group is already gone (exit event not yet delivered). Anything else is a real problem.
      if (!(e instanceof Error && 'code' in e && e.code === 'ESRCH')) throw e;
    }
  };
  const stop = async (graceMs: number): Promise<void> => {
    signalGroup('SIGTERM');
    const timer = setTimeout(() => signalGroup('SIGKILL'), graceMs);
    await exited;
    clearTimeout(timer);
  };
  return {
    name,
    pid,
    logFile,
    exited,
    running: () => !done,
    logTail: async (lines = 30) => {
      const text = await readFile(logFile, 'utf8').catch((e: unknown) => `(no log: ${e instanceof Error ? e.message : String(e)})`);
      return text.trimEnd().split('\n').slice(-lines).join('\n');
    },
    kill: async () => {
      signalGroup('SIGKILL');
      await exited;
    },
    stop: (graceMs = 10_000) => stop(graceMs),
  };
}

/** Every process a test started, so that `stopAll` (in `afterAll` or `finally`) leaves nothing behind. */
export class ProcessSet {
  readonly #all: ManagedProcess[] = [];

  add(p: ManagedProcess): ManagedProcess {
    this.#all.push(p);
    return p;
  }

  /** Last lines of every process's log, for a failure message. */
  async describe(lines = 15): Promise<string> {
    const parts = await Promise.all(this.#all.map(async (p) => `--- ${p.name} (pid ${p.pid}, ${p.running() ? 'running' : 'exited'}) ---\n${await p.logTail(lines)}`));
    return parts.join('\n');
  }

  /**
   * Stops every process still running (SIGTERM, SIGKILL after `graceMs`), newest first, one after the other:
   * senders (Prometheus) go before the services they send to, so nothing logs a refused connection at the end.
   */
  async stopAll(graceMs = 10_000): Promise<void> {
    const all = this.#all.splice(0).reverse();
    const errors: unknown[] = [];
    for (const p of all) {
      // One process that cannot be signalled must not leave the others running.
      await p.stop(graceMs).catch((e: unknown) => errors.push(e));
    }
    if (errors.length > 0) throw new AggregateError(errors, `could not stop ${errors.length} process(es)`);
  }
}

export interface WaitOptions {
  readonly timeoutMs: number;
  readonly intervalMs?: number;
  /** Extra context for the timeout message (for example the processes' log tails). */
  readonly context?: () => Promise<string>;
}

/** Thrown by a probe when waiting longer cannot help (the process it waits for has exited). */
export class GiveUp extends Error {
  override readonly name = 'GiveUp';
}

/**
 * Polls `probe` until it returns a value other than `undefined`. A probe that throws counts as "not yet" (a
 * server still starting refuses connections), unless it throws `GiveUp`; its last error is quoted when the
 * deadline passes.
 */
export async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, options: WaitOptions): Promise<T> {
  const deadline = Date.now() + options.timeoutMs;
  let last = 'no answer yet';
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
      last = 'condition not met';
    } catch (e: unknown) {
      if (e instanceof GiveUp) throw e;
      last = e instanceof Error ? e.message : String(e);
    }
    if (Date.now() >= deadline) {
      const context = options.context === undefined ? '' : `\n${await options.context()}`;
      throw new Error(`timed out after ${options.timeoutMs} ms waiting for ${what} (last: ${last})${context}`);
    }
    await new Promise((r) => setTimeout(r, options.intervalMs ?? 250));
  }
}
