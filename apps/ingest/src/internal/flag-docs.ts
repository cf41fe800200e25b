/**
 * The flag tables of the READMEs, generated from the one flag table in `config.ts`: `npm run docs:flags` rewrites
 * them, and `flag-docs.test.ts` fails when a README and the flag table disagree.
 */
import { flagTable } from '../config.js';

/** README files (relative to the repository root) that carry a generated flag table. */
export const FLAG_DOC_FILES = ['README.md', 'apps/ingest/README.md'] as const;

export const FLAG_TABLE_BEGIN = '<!-- flag table: generated from apps/ingest/src/config.ts by `npm run docs:flags`; edit it there -->';
export const FLAG_TABLE_END = '<!-- end of flag table -->';

type FlagRow = ReturnType<typeof flagTable>[number];

/** Markdown cell text: `--flag` mentions as code, pipes escaped. */
function cell(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/(^|[\s(])(--[a-z0-9][a-z0-9.-]*[a-z0-9])/g, '$1`$2`');
}

/** The markdown table of every flag, in `--help` order. */
export function renderFlagTable(rows: readonly FlagRow[] = flagTable()): string {
  const lines = ['| flag | variable | default | meaning |', '|---|---|---|---|'];
  for (const r of rows) {
    const def = r.default === undefined ? 'unset' : `\`${r.default}\``;
    lines.push(`| \`--${r.flag}\` | \`${r.env}\` | ${def} | ${cell(r.help)} |`);
  }
  return lines.join('\n');
}

/**
 * `markdown` with the text between the markers replaced by `table`.
 * @throws Error when the markers are missing or out of order (`file` names the document in the message).
 */
export function withFlagTable(markdown: string, table: string, file: string): string {
  const begin = markdown.indexOf(FLAG_TABLE_BEGIN);
  const end = markdown.indexOf(FLAG_TABLE_END);
  if (begin < 0 || end < begin) throw new Error(`${file}: no flag table markers (${FLAG_TABLE_BEGIN} … ${FLAG_TABLE_END})`);
  return `${markdown.slice(0, begin + FLAG_TABLE_BEGIN.length)}\n${table}\n${markdown.slice(end)}`;
}
