import { spawnSync } from 'node:child_process';

/** The result of one external tool run; `ok` is exit status 0. */
export interface ToolResult {
  readonly ok: boolean;
  readonly status: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

const INSTALL_HINTS: Readonly<Record<string, string>> = {
  kubectl: 'install kubectl (https://kubernetes.io/docs/tasks/tools/)',
  promtool:
    'install Debian\'s prometheus package: apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends prometheus',
};

/**
 * Runs an external tool synchronously. A missing binary throws (never a skip): the deployment checks are only
 * meaningful when the real tools ran.
 */
export function runTool(command: string, args: readonly string[], cwd?: string): ToolResult {
  const r = spawnSync(command, args, { cwd, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, timeout: 120_000 });
  if (r.error !== undefined) {
    const hint = INSTALL_HINTS[command] ?? 'install it';
    throw new Error(`cannot run ${command} (${r.error.message}): ${hint}`);
  }
  return { ok: r.status === 0, status: r.status, stdout: r.stdout, stderr: r.stderr };
}
