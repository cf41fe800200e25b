// Generates the static protobufjs code for the vendored .proto files (the test and benchmark oracle; the hot path
// uses the hand-written codec). `node scripts/codegen.mjs` writes src/generated/; `--check` regenerates into a
// temporary directory and exits non-zero when the committed files differ, so CI catches stale generated code.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, mkdirSync, existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);
const pbjs = join(dirname(require.resolve('protobufjs-cli/package.json')), 'bin', 'pbjs');
const FILES = ['prompb.js', 'prompb.d.ts'];

function generate(outDir) {
  mkdirSync(outDir, { recursive: true });
  execFileSync(
    process.execPath,
    [
      pbjs,
      '-t', 'static-module',
      '-w', 'esm',
      '--no-delimited',
      '--no-typeurl',
      '-p', join(root, 'proto'),
      '-o', join(outDir, 'prompb.js'),
      '-d',
      'prometheus/remote.proto',
      'io/prometheus/write/v2/types.proto',
    ],
    { cwd: join(root, 'proto'), stdio: ['ignore', 'ignore', 'inherit'] },
  );
}

if (process.argv.includes('--check')) {
  const tmp = mkdtempSync(join(tmpdir(), 'promha-codegen-'));
  try {
    generate(tmp);
    const stale = FILES.filter((f) => {
      const committed = join(root, 'src', 'generated', f);
      return !existsSync(committed) || !readFileSync(committed).equals(readFileSync(join(tmp, f)));
    });
    if (stale.length > 0) {
      process.stderr.write(`generated code is stale: ${stale.join(', ')}; run npm run codegen -w libs/codec\n`);
      process.exitCode = 1;
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
} else {
  generate(join(root, 'src', 'generated'));
}
