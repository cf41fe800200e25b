/**
 * CPU time of processes from /proc (Linux): utime + stime of a process, and of a PostgreSQL server (its
 * postmaster, every live descendant, plus the postmaster's cutime + cstime, which holds the CPU of backends that
 * exited and were reaped).
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

let ticks: number | undefined;

/** Clock ticks per second (`getconf CLK_TCK`, 100 on every Linux we run on). */
export function clockTicks(): number {
  if (ticks === undefined) {
    try {
      ticks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      // getconf missing: Linux's USER_HZ is 100 on every architecture Node supports.
      ticks = 100;
    }
  }
  return ticks;
}

export interface ProcStat {
  readonly pid: number;
  readonly ppid: number;
  readonly comm: string;
  /** utime + stime, seconds. */
  readonly cpu: number;
  /** cutime + cstime (reaped children), seconds. */
  readonly childCpu: number;
}

/** Parses /proc/<pid>/stat text; the command name is in parentheses and may itself contain spaces or ')'. */
export function parseStat(text: string, hz: number): ProcStat {
  const open = text.indexOf('(');
  const close = text.lastIndexOf(')');
  const pid = Number(text.slice(0, open).trim());
  const comm = text.slice(open + 1, close);
  // Fields after the name start at field 3 (state); utime is field 14, stime 15, cutime 16, cstime 17.
  const rest = text.slice(close + 2).split(' ');
  const field = (n: number): number => Number(rest[n - 3]);
  return { pid, ppid: field(4), comm, cpu: (field(14) + field(15)) / hz, childCpu: (field(16) + field(17)) / hz };
}

export function readStat(pid: number): ProcStat | undefined {
  try {
    return parseStat(readFileSync(`/proc/${pid}/stat`, 'utf8'), clockTicks());
  } catch {
    // The process exited between listing and reading.
    return undefined;
  }
}

function allStats(): ProcStat[] {
  const out: ProcStat[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const s = readStat(Number(name));
    if (s !== undefined) out.push(s);
  }
  return out;
}

/** CPU seconds of one process (0 once it is gone). */
export function processCpu(pid: number): number {
  return readStat(pid)?.cpu ?? 0;
}

/** A process tree's CPU: the root and its live descendants, plus what the root reaped. */
export interface TreeCpu {
  readonly seconds: number;
  readonly processes: number;
}

export function treeCpu(root: number): TreeCpu {
  const stats = allStats();
  const children = new Map<number, ProcStat[]>();
  for (const s of stats) {
    const list = children.get(s.ppid);
    if (list === undefined) children.set(s.ppid, [s]);
    else list.push(s);
  }
  const rootStat = stats.find((s) => s.pid === root);
  if (rootStat === undefined) return { seconds: 0, processes: 0 };
  let seconds = rootStat.cpu + rootStat.childCpu;
  let processes = 1;
  const queue = [...(children.get(root) ?? [])];
  while (queue.length > 0) {
    const s = queue.pop()!;
    // What a descendant reaped (a postmaster's exited backends) is counted nowhere else.
    seconds += s.cpu + s.childCpu;
    processes++;
    queue.push(...(children.get(s.pid) ?? []));
  }
  return { seconds, processes };
}

/** The postmaster of a backend: its parent process. */
export function parentOf(pid: number): number | undefined {
  return readStat(pid)?.ppid;
}
