/**
 * The one registry of codec error codes (like Fastify's `FST_ERR_*`): every error the codec throws carries one of
 * these stable codes and the HTTP status a receiver should answer with.
 */
export const CODEC_ERRORS = {
  /** The snappy header declares more decoded bytes than allowed (checked before allocating). */
  CODEC_ERR_TOO_LARGE: 413,
  /** The snappy block is truncated or corrupt. */
  CODEC_ERR_SNAPPY: 400,
  /** The protobuf is truncated or malformed (bad varint, length past the end, wrong wire type, bad tag). */
  CODEC_ERR_PROTOBUF: 400,
  /** A string is not valid UTF-8. */
  CODEC_ERR_UTF8: 400,
  /** A series has no labels or no `__name__` label. */
  CODEC_ERR_MISSING_METRIC_NAME: 400,
  /** A label name is empty. */
  CODEC_ERR_EMPTY_LABEL_NAME: 400,
  /** Two labels of a series have the same name. */
  CODEC_ERR_DUPLICATE_LABEL: 400,
  /** The labels of a series are not sorted by name. */
  CODEC_ERR_UNSORTED_LABELS: 400,
  /** A label name or value, or metadata help or unit, contains a NUL byte. */
  CODEC_ERR_NUL_BYTE: 400,
  /** 2.0: a symbol reference points outside the symbols table. */
  CODEC_ERR_SYMBOL_REF: 400,
  /** 2.0: a label reference list has an odd length. */
  CODEC_ERR_ODD_LABEL_REFS: 400,
  /** 2.0: the symbols table does not start with the empty string. */
  CODEC_ERR_FIRST_SYMBOL: 400,
  /** A limit of the request was exceeded (label name or value length, labels per series, series per request). */
  CODEC_ERR_LIMIT: 400,
  /** A timestamp lies outside the range the database can store. */
  CODEC_ERR_TIMESTAMP_RANGE: 400,
  /** A timestamp or integer count is outside the safe integer range of a JavaScript number. */
  CODEC_ERR_INTEGER_RANGE: 400,
  /** Unsupported Content-Type or remote-write protobuf message. */
  CODEC_ERR_CONTENT_TYPE: 415,
  /** A value handed to an encoder cannot be encoded (e.g. a non-integer timestamp). */
  CODEC_ERR_ENCODE: 400,
} as const;

/** A stable codec error code. */
export type CodecErrorCode = keyof typeof CODEC_ERRORS;

/** The HTTP status a receiver answers for a codec error. */
export type CodecErrorStatus = (typeof CODEC_ERRORS)[CodecErrorCode];

/**
 * Every failure of the codec: malformed input, invalid labels, oversized bodies, unsupported content types.
 * `seriesIndex` names the offending series (0-based, in wire order) when the problem belongs to one.
 */
export class CodecError extends Error {
  readonly code: CodecErrorCode;
  readonly status: CodecErrorStatus;
  readonly seriesIndex?: number;

  constructor(code: CodecErrorCode, detail: string, seriesIndex?: number) {
    super(seriesIndex === undefined ? detail : `series ${seriesIndex}: ${detail}`);
    this.name = 'CodecError';
    this.code = code;
    this.status = CODEC_ERRORS[code];
    if (seriesIndex !== undefined) this.seriesIndex = seriesIndex;
  }
}
