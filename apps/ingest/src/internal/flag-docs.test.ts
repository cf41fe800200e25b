import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FLAG_DOC_FILES, FLAG_TABLE_BEGIN, FLAG_TABLE_END, renderFlagTable, withFlagTable } from './flag-docs.js';

const root = join(import.meta.dirname, '../../../..');

describe('flag tables in the READMEs', () => {
  it.each(FLAG_DOC_FILES)('%s holds the table generated from config.ts (run `npm run docs:flags` after changing a flag)', (file) => {
    const markdown = readFileSync(join(root, file), 'utf8');
    expect(withFlagTable(markdown, renderFlagTable(), file)).toBe(markdown);
  });

  it('renders every flag with its variable and default, flag mentions as code and pipes escaped', () => {
    const table = renderFlagTable([
      { flag: 'a.b', env: 'PROMHA_A_B', default: '5s', help: 'Below --c.d; x|y.' },
      { flag: 'c.d', env: 'PROMHA_C_D', default: undefined, help: 'Plain.' },
    ]);
    expect(table.split('\n')).toEqual([
      '| flag | variable | default | meaning |',
      '|---|---|---|---|',
      '| `--a.b` | `PROMHA_A_B` | `5s` | Below `--c.d`; x\\|y. |',
      '| `--c.d` | `PROMHA_C_D` | unset | Plain. |',
    ]);
  });

  it('replaces only the text between the markers and refuses a document without them', () => {
    const doc = `intro\n${FLAG_TABLE_BEGIN}\nold\n${FLAG_TABLE_END}\noutro\n`;
    expect(withFlagTable(doc, 'new', 'x.md')).toBe(`intro\n${FLAG_TABLE_BEGIN}\nnew\n${FLAG_TABLE_END}\noutro\n`);
    expect(() => withFlagTable('intro\n', 'new', 'x.md')).toThrow(/x\.md: no flag table markers/);
  });
});
