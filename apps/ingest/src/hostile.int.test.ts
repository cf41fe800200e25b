/**
 * Hostile input, black-box over HTTP against the real service and a real PostgreSQL: each case asserts the exact
 * status, that /healthz keeps answering while the case runs, that nothing of a refused request can be read back,
 * and that a valid write after it succeeds.
 */
import {
  encodeWriteRequest,
  snappyCompress,
  type TimeSeries,
  type WriteRequest,
} from "@promha/codec";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startHarness, type Harness } from "./testing/int-harness.js";

let h: Harness;
let base: string;
const NOW = Date.now();

beforeAll(async () => {
  h = await startHarness(["--metrics.high-availability=false"]);
  await h.service.app.listen({ host: "127.0.0.1", port: 0 });
  const addr = h.service.app.server.address();
  if (addr === null || typeof addr === "string") throw new Error("no port");
  base = `http://127.0.0.1:${addr.port}`;
}, 120_000);
afterAll(async () => {
  await h.close();
});

function series(
  name: string,
  labels: Record<string, string>,
  ts: number[],
): TimeSeries {
  const ls = [
    { name: "__name__", value: name },
    ...Object.entries(labels).map(([n, v]) => ({ name: n, value: v })),
  ].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return {
    labels: ls,
    samples: ts.map((t) => ({ timestamp: t, value: 1 })),
    histograms: [],
    exemplars: [],
  };
}

const body = (req: Partial<WriteRequest>): Buffer =>
  Buffer.from(
    snappyCompress(
      encodeWriteRequest({ version: 1, series: [], metadata: [], ...req }, 1),
    ),
  );

async function write(b: Uint8Array): Promise<number> {
  const res = await fetch(`${base}/write`, {
    method: "POST",
    body: b,
    headers: { "content-type": "application/x-protobuf" },
  });
  await res.arrayBuffer();
  return res.status;
}

/** Runs `f` while probing /healthz; returns f's result and whether every probe was answered 200. */
async function probing<T>(
  f: () => Promise<T>,
): Promise<{ result: T; healthy: boolean }> {
  let done = false;
  let healthy = true;
  const probe = (async () => {
    do {
      const res = await fetch(`${base}/healthz`, {
        signal: AbortSignal.timeout(5_000),
      }).catch(() => undefined);
      if (res?.status !== 200) healthy = false;
      await res?.arrayBuffer();
    } while (!done);
  })();
  const result = await f().finally(() => (done = true));
  await probe;
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

const writes: {
  name: string;
  body: () => Buffer;
  status: number;
  probe: string;
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
    name: "corrupt snappy",
    status: 400,
    probe: "corrupt",
    body: () => Buffer.from([0x10, 0xff, 0xff, 0xff]),
  },
];

describe("hostile writes", () => {
  for (const c of writes) {
    it(`${c.name}: ${c.status}, service responsive, nothing stored, a valid write after it succeeds`, async () => {
      const { result, healthy } = await probing(() => write(c.body()));
      expect(result).toBe(c.status);
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
});
