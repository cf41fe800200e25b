/** Remote-write Content-Type negotiation and the 2.0 response headers. */
import { CodecError } from './errors.js';

/** 2.0 response header: number of float samples the receiver wrote. */
export const SAMPLES_WRITTEN_HEADER = 'X-Prometheus-Remote-Write-Samples-Written';
/** 2.0 response header: number of native histogram samples the receiver wrote. */
export const HISTOGRAMS_WRITTEN_HEADER = 'X-Prometheus-Remote-Write-Histograms-Written';
/** 2.0 response header: number of exemplars the receiver wrote. */
export const EXEMPLARS_WRITTEN_HEADER = 'X-Prometheus-Remote-Write-Exemplars-Written';

/** The `proto` parameter values that select each remote-write version. */
export const WRITE_V1_PROTO = 'prometheus.WriteRequest';
export const WRITE_V2_PROTO = 'io.prometheus.write.v2.Request';

/** Content-Type of a 1.0 request as Prometheus sends it. */
export const WRITE_V1_CONTENT_TYPE = 'application/x-protobuf';
/** Content-Type of a 2.0 request. */
export const WRITE_V2_CONTENT_TYPE = `application/x-protobuf;proto=${WRITE_V2_PROTO}`;

/**
 * Chooses the remote-write version from a Content-Type header: 1 for `application/x-protobuf` without a `proto`
 * parameter or with `proto=prometheus.WriteRequest`, 2 for `proto=io.prometheus.write.v2.Request`. A missing or
 * empty header is taken as 1.0 (what the 2.0 specification asks receivers to assume). Anything else throws
 * CODEC_ERR_CONTENT_TYPE (415).
 */
export function parseWriteContentType(contentType: string | undefined): 1 | 2 {
  if (contentType === undefined || contentType.trim() === '') return 1;
  const parts = contentType.split(';');
  const media = parts[0]!.trim().toLowerCase();
  if (media !== 'application/x-protobuf') {
    throw new CodecError('CODEC_ERR_CONTENT_TYPE', `unsupported Content-Type ${JSON.stringify(contentType)}`);
  }
  let proto: string | undefined;
  for (let i = 1; i < parts.length; i++) {
    const p = parts[i]!;
    const eq = p.indexOf('=');
    if (eq < 0) continue;
    if (p.slice(0, eq).trim().toLowerCase() !== 'proto') continue;
    proto = p.slice(eq + 1).trim().replace(/^"(.*)"$/, '$1');
  }
  if (proto === undefined || proto === WRITE_V1_PROTO) return 1;
  if (proto === WRITE_V2_PROTO) return 2;
  throw new CodecError('CODEC_ERR_CONTENT_TYPE', `unsupported remote-write message proto=${proto}`);
}
