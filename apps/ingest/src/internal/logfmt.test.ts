import { describe, expect, it } from 'vitest';
import { toLogfmt } from './logfmt.js';

describe('toLogfmt', () => {
  it('rewrites pino JSON as logfmt, quoting where needed', () => {
    const line = JSON.stringify({ level: 30, time: 0, pid: 1, hostname: 'h', msg: 'listening on x', address: 'http://0.0.0.0:9201', n: 3 });
    expect(toLogfmt(line)).toBe('ts=1970-01-01T00:00:00.000Z level=info msg="listening on x" address=http://0.0.0.0:9201 n=3');
  });
  it('passes non-JSON through', () => {
    expect(toLogfmt('plain')).toBe('plain');
  });
});
