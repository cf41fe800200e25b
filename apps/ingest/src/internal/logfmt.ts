/**
 * `--log.format=logfmt`: a destination for Fastify's pino logger that rewrites each JSON line as logfmt
 * (`ts=... level=info msg="..." key=value`), the format Promscale and Prometheus operators grep.
 */
import { Writable } from 'node:stream';

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

export function logfmtStream(out: NodeJS.WritableStream): Writable {
  return new Writable({
    write(chunk: Buffer | string, _encoding, callback) {
      const text = typeof chunk === 'string' ? chunk : chunk.toString('utf8');
      out.write(
        `${text
          .split('\n')
          .filter((l) => l !== '')
          .map(toLogfmt)
          .join('\n')}\n`,
      );
      callback();
    },
  });
}
