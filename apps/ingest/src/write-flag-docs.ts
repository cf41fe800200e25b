/**
 * `npm run docs:flags`: rewrites the flag tables of the READMEs from the flag table in `config.ts`.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { FLAG_DOC_FILES, renderFlagTable, withFlagTable } from './internal/flag-docs.js';

const root = join(import.meta.dirname, '../../..');
const table = renderFlagTable();
for (const file of FLAG_DOC_FILES) {
  const path = join(root, file);
  const before = await readFile(path, 'utf8');
  const after = withFlagTable(before, table, file);
  if (after !== before) await writeFile(path, after);
  process.stdout.write(`${after === before ? 'unchanged' : 'updated'} ${file}\n`);
}
