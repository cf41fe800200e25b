import { describe, expect, it } from 'vitest';
import { parseStat, processCpu, treeCpu } from './procs.js';

describe('parseStat', () => {
  it('reads utime+stime and cutime+cstime after a command name holding spaces and parentheses', () => {
    const line = '4242 (postgres: a (b) c) S 17 4242 4242 0 -1 4194560 100 0 0 0 250 50 30 20 20 0 1 0 1000 0 0';
    const s = parseStat(line, 100);
    expect(s.pid).toBe(4242);
    expect(s.comm).toBe('postgres: a (b) c');
    expect(s.ppid).toBe(17);
    expect(s.cpu).toBeCloseTo(3, 9);
    expect(s.childCpu).toBeCloseTo(0.5, 9);
  });
});

describe('process CPU from /proc', () => {
  it('counts this process, and a tree at least as much as its root', () => {
    const own = processCpu(process.pid);
    expect(own).toBeGreaterThan(0);
    expect(treeCpu(process.pid).seconds).toBeGreaterThanOrEqual(own);
    expect(treeCpu(-1)).toEqual({ seconds: 0, processes: 0 });
  });
});
