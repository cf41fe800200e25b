/**
 * Running the real ingest process in tests: spawn `main.ts` through tsx, wait until it is ready, talk HTTP to it,
 * and keep its last log lines for the failure message. A process that exits when nobody stopped it is a failure
 * of the test that started it (`exitedUnasked`).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { request } from 'node:http';
import { resolve } from 'node:path';
import { writeContentType } from './testkit.js';

/** The repository's root: the working directory of {@link ingestCommand}. */
export const REPO_ROOT = resolve(import.meta.dirname, '../../../..');

/** Node's arguments that run the ingest service from source (`npm start`'s), then `args`; run them in {@link REPO_ROOT}. */
export function ingestCommand(args: readonly string[]): string[] {
  return ['--conditions=@promha/source', '--import', 'tsx', 'apps/ingest/src/main.ts', ...args];
}

export { freePort } from '@promha/storage/testing';

/**
 * One HTTP exchange; resolves with the status, 0 when the connection was refused or reset (no answer: the sender
 * must resend), and -1 when no answer came within `timeoutMs` (a hang).
 */
export function http(port: number, method: string, path: string, body?: Buffer, timeoutMs = 60_000): Promise<number> {
  return new Promise((ok) => {
    const req = request(
      { host: '127.0.0.1', port, method, path, headers: body === undefined ? {} : { 'content-type': writeContentType(1), 'content-length': body.length } },
      (res) => {
        res.resume();
        res.on('end', () => ok(res.statusCode ?? 0));
      },
    );
    req.setTimeout(timeoutMs, () => {
      req.destroy();
      ok(-1);
    });
    req.on('error', () => ok(0));
    req.end(body);
  });
}

export interface IngestProcess {
  readonly child: ChildProcess;
  readonly port: number;
  /** The last lines it wrote (stdout and stderr). */
  log(): string;
  /** Set by `stop()`: an exit before that was not asked for. */
  exitedUnasked(): boolean;
  /** SIGTERM, then the exit code. */
  stop(): Promise<number | null>;
}

/** Starts `apps/ingest/src/main.ts` with `args` on `port` and waits for `/ready` 200. */
export async function startIngestProcess(port: number, args: readonly string[]): Promise<IngestProcess> {
  const child = spawn(
    process.execPath,
    ingestCommand([`--web.listen-address=127.0.0.1:${port}`, ...args]),
    { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const lines: string[] = [];
  const keep = (b: Buffer): void => {
    lines.push(...b.toString().split('\n').filter((l) => l !== ''));
    if (lines.length > 60) lines.splice(0, lines.length - 60);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  let asked = false;
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  const p: IngestProcess = {
    child,
    port,
    log: () => lines.join('\n'),
    exitedUnasked: () => !asked && (child.exitCode !== null || child.signalCode !== null),
    stop: async () => {
      asked = true;
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      return exited;
    },
  };
  for (let i = 0; i < 600; i++) {
    if (child.exitCode !== null) throw new Error(`ingest exited at start:\n${p.log()}`);
    if ((await http(port, 'GET', '/ready', undefined, 2000)) === 200) return p;
    await new Promise((r) => setTimeout(r, 100));
  }
  child.kill('SIGKILL');
  throw new Error(`ingest did not become ready:\n${p.log()}`);
}
