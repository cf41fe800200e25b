import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../../../..');

/**
 * The V8 flags `npm start` gives node (`--max-...` in the root package.json's start script, such as the young
 * generation's size), so that the bench's ingest runs as `npm start` runs it.
 */
export function startScriptNodeFlags(): string[] {
  const scripts = (JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts;
  return (scripts['start'] ?? '').split(/\s+/).filter((t) => t.startsWith('--max-'));
}
