/**
 * Remote read: the `prometheus.ReadRequest` decoder and the SAMPLES `prometheus.ReadResponse` encoder.
 */
import type { LabelMatcher, QueryResult, ReadHints, ReadQuery, ReadRequest, ReadResponseType } from '../model.js';
import { readString } from './decode.js';
import { writeSeriesV1 } from './encode.js';
import { fields, Reader } from './reader.js';
import { Writer } from './writer.js';

const MATCHER_TYPES: readonly LabelMatcher['type'][] = ['EQ', 'NEQ', 'RE', 'NRE'];
const RESPONSE_TYPES: readonly ReadResponseType[] = ['SAMPLES', 'STREAMED_XOR_CHUNKS'];

const MATCHER_FIELDS = fields(1, 2, 3);

function readMatcher(r: Reader, end: number): LabelMatcher {
  const stop = r.limit(end);
  let type = 0;
  let name = '';
  let value = '';
  while (r.pos < stop) {
    const tag = r.uint32(stop);
    if (tag === 0x08) type = r.uint32(stop);
    else if (tag === 0x12) name = readString(r, stop, 'matcher name');
    else if (tag === 0x1a) value = readString(r, stop, 'matcher value');
    else r.skip(tag, stop, MATCHER_FIELDS);
  }
  const t = MATCHER_TYPES[type];
  if (t === undefined) throw r.malformed(`unknown label matcher type ${type}`);
  return { type: t, name, value };
}

const HINTS_FIELDS = fields(1, 2, 3, 4, 5, 6, 7);

function readHints(r: Reader, end: number): ReadHints {
  const stop = r.limit(end);
  let stepMs = 0;
  let func = '';
  let startMs = 0;
  let endMs = 0;
  const grouping: string[] = [];
  let by = false;
  let rangeMs = 0;
  while (r.pos < stop) {
    const tag = r.uint32(stop);
    if (tag === 0x08) stepMs = r.int64(stop, 'hints step');
    else if (tag === 0x12) func = readString(r, stop, 'hints func');
    else if (tag === 0x18) startMs = r.int64(stop, 'hints start');
    else if (tag === 0x20) endMs = r.int64(stop, 'hints end');
    else if (tag === 0x2a) grouping.push(readString(r, stop, 'hints grouping'));
    else if (tag === 0x30) by = r.bool(stop);
    else if (tag === 0x38) rangeMs = r.int64(stop, 'hints range');
    else r.skip(tag, stop, HINTS_FIELDS);
  }
  return { stepMs, func, startMs, endMs, grouping, by, rangeMs };
}

const QUERY_FIELDS = fields(1, 2, 3, 4);

function readQuery(r: Reader, end: number): ReadQuery {
  const stop = r.limit(end);
  let startTimestampMs = 0;
  let endTimestampMs = 0;
  const matchers: LabelMatcher[] = [];
  let hints: ReadHints | undefined;
  while (r.pos < stop) {
    const tag = r.uint32(stop);
    if (tag === 0x08) startTimestampMs = r.int64(stop, 'query start');
    else if (tag === 0x10) endTimestampMs = r.int64(stop, 'query end');
    else if (tag === 0x1a) matchers.push(readMatcher(r, stop));
    else if (tag === 0x22) hints = readHints(r, stop);
    else r.skip(tag, stop, QUERY_FIELDS);
  }
  return hints === undefined
    ? { startTimestampMs, endTimestampMs, matchers }
    : { startTimestampMs, endTimestampMs, matchers, hints };
}

const READ_REQUEST_FIELDS = fields(1, 2);

function responseType(r: Reader, n: number): ReadResponseType {
  const t = RESPONSE_TYPES[n];
  if (t === undefined) throw r.malformed(`unknown response type ${n}`);
  return t;
}

/** Decodes an uncompressed `prometheus.ReadRequest`. */
export function decodeRead(buf: Uint8Array): ReadRequest {
  const r = new Reader(buf);
  const end = buf.length;
  const queries: ReadQuery[] = [];
  const acceptedResponseTypes: ReadResponseType[] = [];
  while (r.pos < end) {
    const tag = r.uint32(end);
    if (tag === 0x0a) queries.push(readQuery(r, end));
    else if (tag === 0x10) acceptedResponseTypes.push(responseType(r, r.uint32(end)));
    else if (tag === 0x12) {
      const stop = r.limit(end);
      while (r.pos < stop) acceptedResponseTypes.push(responseType(r, r.uint32(stop)));
    } else r.skip(tag, end, READ_REQUEST_FIELDS);
  }
  return { queries, acceptedResponseTypes };
}

/** Encodes a `prometheus.ReadResponse` (uncompressed). */
export function encodeReadResponseProto(results: readonly QueryResult[]): Uint8Array {
  const w = new Writer();
  for (const result of results) {
    w.uint32(0x0a);
    const at = w.fork();
    for (const s of result.timeseries) writeSeriesV1(w, 0x0a, s);
    w.join(at);
  }
  return w.finish();
}

/** Encodes a ReadRequest (clients and tests). */
export function encodeReadRequestProto(req: ReadRequest): Uint8Array {
  const w = new Writer();
  for (const q of req.queries) {
    w.uint32(0x0a);
    const at = w.fork();
    writeInt64Field(w, 0x08, q.startTimestampMs, 'query start');
    writeInt64Field(w, 0x10, q.endTimestampMs, 'query end');
    for (const m of q.matchers) {
      w.uint32(0x1a);
      const m0 = w.fork();
      const type = MATCHER_TYPES.indexOf(m.type);
      if (type !== 0) {
        w.uint32(0x08);
        w.uint32(type);
      }
      if (m.name !== '') {
        w.uint32(0x12);
        w.string(m.name);
      }
      if (m.value !== '') {
        w.uint32(0x1a);
        w.string(m.value);
      }
      w.join(m0);
    }
    if (q.hints !== undefined) {
      const h = q.hints;
      w.uint32(0x22);
      const h0 = w.fork();
      writeInt64Field(w, 0x08, h.stepMs, 'hints step');
      if (h.func !== '') {
        w.uint32(0x12);
        w.string(h.func);
      }
      writeInt64Field(w, 0x18, h.startMs, 'hints start');
      writeInt64Field(w, 0x20, h.endMs, 'hints end');
      for (const g of h.grouping) {
        w.uint32(0x2a);
        w.string(g);
      }
      if (h.by) {
        w.uint32(0x30);
        w.uint32(1);
      }
      writeInt64Field(w, 0x38, h.rangeMs, 'hints range');
      w.join(h0);
    }
    w.join(at);
  }
  if (req.acceptedResponseTypes.length > 0) {
    w.uint32(0x12);
    const at = w.fork();
    for (const t of req.acceptedResponseTypes) w.uint32(RESPONSE_TYPES.indexOf(t));
    w.join(at);
  }
  return w.finish();
}


function writeInt64Field(w: Writer, tag: number, v: number, what: string): void {
  if (v === 0) return;
  w.uint32(tag);
  w.int64(v, what);
}
