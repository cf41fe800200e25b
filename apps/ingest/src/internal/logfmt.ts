/**
 * `--log.format=logfmt`: pino's JSON lines rewritten as logfmt (`ts=... level=info msg="..." key=value`), the
 * format Promscale and Prometheus operators grep. The rewriting runs off the main thread, in the pino transport
 * of logfmt-transport.ts; {@link logfmtDestination} is what the service and the primary process hand to pino.
 */
import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import pino, { type DestinationStream } from 'pino';

const LEVELS: Readonly<Record<number, string>> = { 10: 'trace', 20: 'debug', 30: 'info', 40: 'warn', 50: 'error', 60: 'fatal' };

function value(v: unknown): string {
  const s = typeof v === 'string' ? v : JSON.stringify(v) ?? 'null';
  return /^[^\s"=]+$/.test(s) ? s : JSON.stringify(s);
}

/** Converts one pino JSON line to logfmt; lines that are not JSON objects pass through unchanged. */
export function toLogfmt(line: string): string {
  let record: unknown;
  try {
    record = JSON.parse(line);
  } catch {
    return line;
  }
  if (typeof record !== 'object' || record === null) return line;
  const { time, level, msg, ...rest } = record as Record<string, unknown>;
  // Process id and host name repeat on every line; operators get them from the environment.
  delete rest['pid'];
  delete rest['hostname'];
  const parts = [
    `ts=${typeof time === 'number' ? new Date(time).toISOString() : value(time)}`,
    `level=${typeof level === 'number' ? (LEVELS[level] ?? String(level)) : value(level)}`,
  ];
  if (msg !== undefined) parts.push(`msg=${value(msg)}`);
  for (const [k, v] of Object.entries(rest)) parts.push(`${k}=${value(v)}`);
  return parts.join(' ');
}

/** This module's extension: `.ts` when run from source (through tsx), `.js` when built. */
const EXTENSION = extname(fileURLToPath(import.meta.url));
const TRANSPORT = fileURLToPath(new URL(`./logfmt-transport${EXTENSION}`, import.meta.url));

/**
 * Node options of the transport's worker thread. Built, none. From source, this process's options plus tsx's
 * loader registered in the worker itself: on Node 20, `--import tsx` registers its loader in the main thread only.
 */
function workerExecArgv(): string[] {
  if (EXTENSION !== '.ts') return [];
  const register = `import { register } from ${JSON.stringify(import.meta.resolve('tsx/esm/api'))}; register();`;
  return [...process.execArgv, '--import', `data:text/javascript,${encodeURIComponent(register)}`];
}

/** A pino destination that hands each JSON line to the logfmt transport's worker thread, which writes stdout. */
export function logfmtDestination(): DestinationStream {
  return pino.transport({ target: TRANSPORT, worker: { execArgv: workerExecArgv() } });
}
