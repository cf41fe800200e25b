/**
 * Hostile input, black-box over HTTP against the real service and a real PostgreSQL: each case asserts the exact
 * status, that /healthz keeps answering while the case runs, that nothing of a refused request can be read back,
 * and that a valid write after it succeeds.
 */
import { encodeReadRequest, encodeWriteRequest, snappyCompress, type TimeSeries, type WriteRequest } from "@promha/codec";
import { rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { hashPassword } from "./auth.js";
import { freshDatabase, startHarness, type Harness } from "./testing/int-harness.js";
import { series as seriesOf, writeBody, writeContentType } from "./testing/testkit.js";

const NOW = Date.now();

/** A harness whose service listens on a free port of the loopback interface, with its base URL. */
async function serve(argv: readonly string[], uri?: string): Promise<{ h: Harness; base: string }> {
  const h = await startHarness(argv, uri);
  await h.service.app.listen({ host: "127.0.0.1", port: 0 });
  const addr = h.service.app.server.address();
  if (addr === null || typeof addr === "string") throw new Error("no port");
  return { h, base: `http://127.0.0.1:${addr.port}` };
}

let h: Harness;
let base: string;

beforeAll(async () => {
  ({ h, base } = await serve(["--metrics.high-availability=false"]));
}, 120_000);
afterAll(async () => {
  await h.close();
});

function series(name: string, labels: Record<string, string>, ts: number[]): TimeSeries {
  return seriesOf(name, labels, ts.map((t) => [t, 1] as const));
}

const body = (req: Partial<WriteRequest>): Buffer => writeBody(req.series ?? [], 1, req.metadata ?? []);

/** Posts a remote-write body; returns the status and the answer's text. */
async function post(
  to: string,
  b: Uint8Array,
  headers: Record<string, string> = {},
): Promise<{ status: number; text: string; retryAfter: string | null }> {
  const res = await fetch(`${to}/write`, {
    method: "POST",
    body: b,
    headers: { "content-type": writeContentType(1), ...headers },
  });
  return { status: res.status, text: await res.text(), retryAfter: res.headers.get("retry-after") };
}

async function write(b: Uint8Array, to = base): Promise<number> {
  return (await post(to, b)).status;
}

/**
 * Runs `f` while probing `to`'s /healthz; returns f's result and whether every probe was answered 200. The
 * probes' latency is printed, not asserted (no timing assertions in tests): it is for a human reading the run.
 */
async function probing<T>(f: () => Promise<T>, to = base): Promise<{ result: T; healthy: boolean }> {
  let done = false;
  let healthy = true;
  const latencies: number[] = [];
  const probe = (async () => {
    do {
      const t0 = performance.now();
      const res = await fetch(`${to}/healthz`, {
        signal: AbortSignal.timeout(5_000),
      }).catch(() => undefined);
      if (res?.status !== 200) healthy = false;
      await res?.arrayBuffer();
      latencies.push(performance.now() - t0);
    } while (!done);
  })();
  const result = await f().finally(() => (done = true));
  await probe;
  const name = expect.getState().currentTestName ?? "";
  console.log(`${name}: /healthz answered ${latencies.length} probes, slowest ${Math.max(...latencies).toFixed(1)} ms`);
  return { result, healthy };
}

const alnum = (n: number, seed: number): string => {
  let x = seed;
  const abc = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
  return Array.from(
    { length: n },
    () => abc[(x = (x * 1103515245 + 12345) % 2 ** 31) % 62],
  ).join("");
};

/** The encoded request `raw` with the first occurrence of `marker` made invalid UTF-8 (a lead byte then `(`), snappy-compressed. */
function breakUtf8(raw: Uint8Array, marker: string): Buffer {
  const b = Buffer.from(raw);
  const at = b.indexOf(marker);
  if (at < 0) throw new Error(`marker ${marker} not in the encoded request`);
  b[at] = 0xc3;
  b[at + 1] = 0x28;
  return Buffer.from(snappyCompress(b));
}

const writes: {
  name: string;
  body: () => Buffer;
  status: number;
  probe: string;
  /** Remote write 2.0 (its Content-Type); 1.0 otherwise. */
  v2?: true;
}[] = [
  {
    name: "a label value one byte over the limit",
    status: 400,
    probe: "long_over",
    body: () =>
      body({
        series: [series("long_over", { v: alnum(16 * 1024 + 1, 1) }, [NOW])],
      }),
  },
  {
    name: "129 labels",
    status: 400,
    probe: "many_labels",
    body: () =>
      body({
        series: [
          series(
            "many_labels",
            Object.fromEntries(
              Array.from({ length: 128 }, (_, i) => [
                `l${String(i).padStart(3, "0")}`,
                "x",
              ]),
            ),
            [NOW],
          ),
        ],
      }),
  },
  {
    name: "a timestamp in year 10000",
    status: 400,
    probe: "far_year",
    body: () =>
      body({ series: [series("far_year", {}, [253_402_300_800_000])] }),
  },
  {
    name: "NUL in metadata help",
    status: 400,
    probe: "nul_meta",
    body: () =>
      body({
        series: [series("nul_meta", {}, [NOW])],
        metadata: [
          {
            metricFamilyName: "nul_meta",
            type: "gauge",
            help: "a\u0000b",
            unit: "",
          },
        ],
      }),
  },
  {
    name: "an exemplar label set of 129 code points",
    status: 400,
    probe: "exemplar_long",
    body: () =>
      body({
        series: [
          {
            ...series("exemplar_long", {}, [NOW]),
            exemplars: [{ labels: [{ name: "trace_id", value: alnum(121, 3) }], value: 1, timestamp: NOW }],
          },
        ],
      }),
  },
  {
    name: "100,001 series, one more than the series limit",
    status: 400,
    probe: "many_series",
    body: () =>
      body({
        series: Array.from({ length: 100_001 }, (_, i) => series("many_series", { i: String(i) }, [NOW])),
      }),
  },
  {
    name: "invalid UTF-8 in a 1.0 label value",
    status: 400,
    probe: "bad_utf8",
    body: () =>
      breakUtf8(
        encodeWriteRequest({ version: 1, series: [series("bad_utf8", { v: "BROKEN_HERE" }, [NOW])], metadata: [] }, 1),
        "BROKEN_HERE",
      ),
  },
  {
    name: "invalid UTF-8 in 2.0 metadata help",
    status: 400,
    probe: "bad_utf8_help",
    v2: true,
    body: () =>
      breakUtf8(
        encodeWriteRequest(
          {
            version: 2,
            series: [
              {
                ...series("bad_utf8_help", {}, [NOW]),
                metadata: { metricFamilyName: "bad_utf8_help", type: "gauge", help: "BROKEN_HERE", unit: "" },
              },
            ],
            metadata: [],
          },
          2,
        ),
        "BROKEN_HERE",
      ),
  },
  {
    name: "corrupt snappy",
    status: 400,
    probe: "corrupt",
    body: () => Buffer.from([0x10, 0xff, 0xff, 0xff]),
  },
];

describe("hostile writes", () => {
  for (const c of writes) {
    it(`${c.name}: ${c.status}, service responsive, nothing stored, a valid write after it succeeds`, async () => {
      // Built before probing: the service runs in this process, and the probes measure it, not the test.
      const b = c.body();
      const { result, healthy } = await probing(() =>
        post(base, b, { "content-type": writeContentType(c.v2 === true ? 2 : 1) }),
      );
      expect(result.status, result.text).toBe(c.status);
      expect(healthy).toBe(true);
      expect(
        (await h.stored([{ type: "EQ", name: "__name__", value: c.probe }]))
          .size,
      ).toBe(0);
      expect(
        await write(
          body({ series: [series("after_hostile", { c: c.probe }, [NOW])] }),
        ),
      ).toBe(204);
    });
  }

  it("a 16 KiB label value is stored and read back (204)", async () => {
    const v = alnum(16 * 1024, 7);
    expect(
      await write(body({ series: [series("long_ok", { v }, [NOW])] })),
    ).toBe(204);
    expect([
      ...(await h.stored([{ type: "EQ", name: "v", value: v }])).keys(),
    ]).toHaveLength(1);
  });

  it("a sample beyond the future grace: 400 naming the series, the valid series stored, the late sample not", async () => {
    const res = await fetch(`${base}/write`, {
      method: "POST",
      body: body({
        series: [
          series("future_ok", {}, [NOW]),
          series("future_bad", {}, [NOW, NOW + 3_600_000]),
        ],
      }),
      headers: { "content-type": "application/x-protobuf" },
    });
    expect(res.status).toBe(400);
    expect(await res.text()).toMatch(/series 1 \("future_bad"\)/);
    expect([
      ...(
        await h.stored([{ type: "EQ", name: "__name__", value: "future_ok" }])
      ).values(),
    ]).toEqual([[NOW]]);
    expect([
      ...(
        await h.stored([{ type: "EQ", name: "__name__", value: "future_bad" }])
      ).values(),
    ]).toEqual([[NOW]]);
  });
});

describe("hostile selectors", () => {
  for (const [name, url, form] of [
    // POSTed as a form, as clients send long selectors (a URL this long is Node's 431 before any route).
    [
      "a valid RE2 regex of 40,000 classes",
      "/api/v1/series",
      `match[]=${encodeURIComponent(`{a=~"${"[a]".repeat(40_000)}"}`)}`,
    ],
    [
      "RE2 PostgreSQL cannot express",
      `/api/v1/series?match[]=${encodeURIComponent('{a=~"\\\\p{Greek}"}')}`,
      undefined,
    ],
    [
      "unbalanced parentheses",
      `/api/v1/series?match[]=${encodeURIComponent('{a=~"a)|(b"}')}`,
      undefined,
    ],
    ["a bad limit", "/api/v1/series?match[]=up&limit=-1", undefined],
    ["a bad label name", "/api/v1/label/0x/values", undefined],
  ] as const) {
    it(`${name}: 400 bad_data, service responsive`, async () => {
      const { result, healthy } = await probing(async () => {
        const res =
          form === undefined
            ? await fetch(`${base}${url}`)
            : await fetch(`${base}${url}`, {
                method: "POST",
                body: form,
                headers: {
                  "content-type": "application/x-www-form-urlencoded",
                },
              });
        return { status: res.status, json: (await res.json()) };
      });
      expect(result.status).toBe(400);
      expect(result.json).toMatchObject({
        status: "error",
        errorType: "bad_data",
      });
      expect(healthy).toBe(true);
    });
  }
  it("a remote read whose regex is over --read.max-regex-bytes: 400, service responsive", async () => {
    const regex = `xx${"[a]".repeat(Math.floor((16 * 1024) / 3))}`; // 16 KiB + 1 byte, not plain alternatives
    const req = encodeReadRequest({
      queries: [{ startTimestampMs: 0, endTimestampMs: NOW, matchers: [{ type: "RE", name: "__name__", value: regex }] }],
      acceptedResponseTypes: ["SAMPLES"],
    });
    const { result, healthy } = await probing(async () => {
      const res = await fetch(`${base}/api/v1/read`, {
        method: "POST",
        body: Buffer.from(req),
        headers: { "content-type": "application/x-protobuf" },
      });
      return { status: res.status, text: await res.text() };
    });
    expect(result.status, result.text).toBe(400);
    expect(result.text).toMatch(/longer than 16384 bytes/);
    expect(healthy).toBe(true);
  });
});

describe("a poison request batched into a flush with valid ones", () => {
  // A label name limit raised past what the database can index lets one request through the limits that the
  // database then refuses (SQLSTATE 54000: index row too large): the "data the database refuses" of the contract.
  let p: { h: Harness; base: string };
  beforeAll(async () => {
    p = await serve(["--metrics.high-availability=false", "--limits.max-label-name-bytes=65536"]);
  }, 120_000);
  afterAll(async () => {
    await p.h.close();
  });

  it("the poison request 400, the valid ones sent with it 204 and stored, service responsive, a valid write after it succeeds", async () => {
    const poison = body({ series: [series("poison", { [`n_${alnum(32 * 1024, 11)}`]: "x" }, [NOW])] });
    const valid = Array.from({ length: 32 }, (_, i) => body({ series: [series("beside_poison", { i: String(i) }, [NOW])] }));
    // Sent at once, the poison one in the middle: the first valid ones keep the writer's two flushes busy, so the
    // poison one is queued with others and shares their flush.
    const sent = [...valid.slice(0, 16), poison, ...valid.slice(16)];
    const { result, healthy } = await probing(() => Promise.all(sent.map((b) => post(p.base, b))), p.base);
    const [refused] = result.splice(16, 1);
    expect(refused!.status, refused!.text).toBe(400);
    expect(result.map((r) => r.status)).toEqual(valid.map(() => 204));
    expect(healthy).toBe(true);
    expect((await p.h.stored([{ type: "EQ", name: "__name__", value: "poison" }])).size).toBe(0);
    expect((await p.h.stored([{ type: "EQ", name: "__name__", value: "beside_poison" }])).size).toBe(valid.length);
    expect(await write(body({ series: [series("after_poison", {}, [NOW])] }), p.base)).toBe(204);
  });
});

describe("a flood of wrong Basic-auth passwords", () => {
  let a: { h: Harness; base: string };
  const usersFile = join(tmpdir(), `promha-hostile-users-${process.pid}`);
  beforeAll(async () => {
    // The default scrypt cost, as hash-password makes it: the flood must meet the real price of a check.
    await writeFile(usersFile, `prom:${await hashPassword("right")}\n`);
    a = await serve(["--metrics.high-availability=false", `--web.auth.basic-users-file=${usersFile}`]);
  }, 120_000);
  afterAll(async () => {
    await a.h.close();
    await rm(usersFile, { force: true });
  });
  const basic = (user: string, password: string) => ({
    authorization: `Basic ${Buffer.from(`${user}:${password}`).toString("base64")}`,
  });

  it("each answered 401, or 503 with Retry-After past the scrypt queue; service responsive; nothing stored; the right password then 204", async () => {
    const b = body({ series: [series("auth_flood", {}, [NOW])] });
    const { result, healthy } = await probing(
      () => Promise.all(Array.from({ length: 64 }, (_, i) => post(a.base, b, basic(i % 2 === 0 ? "prom" : `nobody${i}`, `wrong${i}`)))),
      a.base,
    );
    expect(result.filter((r) => r.status !== 401 && r.status !== 503).map((r) => r.status)).toEqual([]);
    // The bounded queue refused some of them without running scrypt: otherwise 64 hashes ran one after another.
    const busy = result.filter((r) => r.status === 503);
    expect(busy.length).toBeGreaterThan(0);
    expect(busy.map((r) => r.retryAfter)).toEqual(busy.map(() => "1"));
    expect(healthy).toBe(true);
    expect((await a.h.stored([{ type: "EQ", name: "__name__", value: "auth_flood" }])).size).toBe(0);
    expect((await post(a.base, body({ series: [series("after_flood", {}, [NOW])] }), basic("prom", "right"))).status).toBe(204);
  });
});

describe("a resend to another instance after the lease moved", () => {
  // Two HA instances on one database: the first stores a request, the lease is extended several times through
  // both, then the same request is resent to the second instance and to the first.
  let one: { h: Harness; base: string };
  let two: { h: Harness; base: string };
  beforeAll(async () => {
    const uri = await freshDatabase();
    one = await serve([], uri);
    two = await serve([], uri);
  }, 120_000);
  afterAll(async () => {
    await Promise.all([one.h.close(), two.h.close()]);
  });

  /** How often each sample timestamp of the series named `name` is stored: raw rows, before any read-time dedupe. */
  async function rawCounts(uri: string, name: string): Promise<number[]> {
    const c = new pg.Client({ connectionString: uri });
    await c.connect();
    try {
      const r = await c.query<{ n: string }>(
        `SELECT count(*)::text AS n
         FROM promha.sample_chunk c CROSS JOIN LATERAL unnest(c.series, c.ts) AS u(s, t)
         JOIN promha.series s ON s.id = u.s JOIN promha.label l ON l.id = ANY(s.label_ids)
         WHERE l.name = '__name__' AND l.value = $1 GROUP BY u.t ORDER BY u.t`,
        [name],
      );
      return r.rows.map((row) => Number(row.n));
    } finally {
      await c.end();
    }
  }

  it("is answered 204 and stored once, service responsive", async () => {
    const t0 = NOW - 120_000;
    const ha = (name: string, from: number) =>
      body({
        series: [
          series(name, { cluster: "resend", __replica__: "r1" }, Array.from({ length: 10 }, (_, k) => from + k * 1000)),
        ],
      });
    const first = ha("resent", t0);
    expect(await write(first, one.base)).toBe(204);
    // Each later batch moves `until` by 10 s of data time, past the 5 s refresh: every one extends the lease.
    for (let k = 1; k <= 4; k++) expect(await write(ha("moving", t0 + k * 10_000), k % 2 === 0 ? one.base : two.base)).toBe(204);
    const { result, healthy } = await probing(async () => [await write(first, two.base), await write(first, one.base)], two.base);
    expect(result).toEqual([204, 204]);
    expect(healthy).toBe(true);
    expect(await rawCounts(one.h.uri, "resent")).toEqual(Array.from({ length: 10 }, () => 1));
    expect([...(await one.h.stored([{ type: "EQ", name: "__name__", value: "resent" }])).values()]).toEqual([
      Array.from({ length: 10 }, (_, k) => t0 + k * 1000),
    ]);
    expect(await write(ha("after_resend", t0 + 50_000), two.base)).toBe(204);
  });
});
