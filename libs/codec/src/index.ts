export {
  configureDecoderCaches,
  countWritten,
  decoderCacheStats,
  seriesTimeRange,
  decodeReadRequest,
  decodeWriteRequest,
  decodeWriteRequestProto,
  encodeReadRequest,
  encodeReadResponse,
  encodeWriteRequest,
  peekWriteRequest,
  resetDecoderCaches,
} from './codec.js';
export type { CacheStats, DecodeReadOptions, DecodeWriteOptions, PeekWriteOptions, WritePeek } from './codec.js';
export type { PeekGroup } from './internal/peek.js';
export {
  EXEMPLARS_WRITTEN_HEADER,
  HISTOGRAMS_WRITTEN_HEADER,
  parseWriteContentType,
  SAMPLES_WRITTEN_HEADER,
  WRITE_V1_CONTENT_TYPE,
  WRITE_V1_PROTO,
  WRITE_V2_CONTENT_TYPE,
  WRITE_V2_PROTO,
} from './content-type.js';
export { CODEC_ERRORS, CodecError } from './errors.js';
export { freezeLabels, isFrozenLabels, LABEL_SET_MEMO, memoOf, newLabelSetMemo } from './frozen-labels.js';
export type { FrozenLabels, LabelSetMemo } from './frozen-labels.js';
export { checkWriteLimits, DEFAULT_WRITE_LIMITS, MAX_TIMESTAMP_MS, MIN_TIMESTAMP_MS } from './limits.js';
export type { WriteLimits } from './limits.js';
export type { CodecErrorCode, CodecErrorStatus } from './errors.js';
export { snappyCompress, snappyDecodedLength, snappyUncompress } from './snappy.js';
export { snappyDecoder, useNativeSnappy } from './internal/native-snappy.js';
export type {
  BucketSpan,
  Exemplar,
  Histogram,
  HistogramResetHint,
  Label,
  LabelMatcher,
  MetricMetadata,
  MetricType,
  QueryResult,
  ReadHints,
  ReadQuery,
  ReadRequest,
  ReadResponseType,
  ReadSeries,
  Sample,
  TimeSeries,
  WriteRequest,
} from './model.js';
