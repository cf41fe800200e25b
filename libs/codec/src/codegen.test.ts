import { describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';

describe('generated protobufjs code', () => {
  it('is what the codegen script produces from the vendored .proto files', () => {
    const script = join(import.meta.dirname, '..', 'scripts', 'codegen.mjs');
    // Throws (non-zero exit) when regenerating would change src/generated.
    const out = execFileSync(process.execPath, [script, '--check'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    expect(out).toBe('');
  });
});
