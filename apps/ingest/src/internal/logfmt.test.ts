import { once } from 'node:events';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { toLogfmt } from './logfmt.js';
import logfmtTransport from './logfmt-transport.js';

describe('toLogfmt', () => {
  it('rewrites pino JSON as logfmt, quoting where needed', () => {
    const line = JSON.stringify({ level: 30, time: 0, pid: 1, hostname: 'h', msg: 'listening on x', address: 'http://0.0.0.0:9201', n: 3 });
    expect(toLogfmt(line)).toBe('ts=1970-01-01T00:00:00.000Z level=info msg="listening on x" address=http://0.0.0.0:9201 n=3');
  });
  it('passes non-JSON through', () => {
    expect(toLogfmt('plain')).toBe('plain');
  });
});

describe('the logfmt transport (the module pino runs in its worker thread)', () => {
  it('writes every line as logfmt, a line split across chunks too, and flushes on end', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'promha-logfmt-'));
    try {
      const file = join(dir, 'out.log');
      const stream = await logfmtTransport({ destination: file });
      const a = JSON.stringify({ level: 40, time: 0, msg: 'a' });
      const b = JSON.stringify({ level: 50, time: 1000, msg: 'b c' });
      stream.write(`${a}\n${b.slice(0, 10)}`);
      stream.write(`${b.slice(10)}\n`);
      stream.end();
      await once(stream, 'close');
      expect(await readFile(file, 'utf8')).toBe('ts=1970-01-01T00:00:00.000Z level=warn msg=a\nts=1970-01-01T00:00:01.000Z level=error msg="b c"\n');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
