/**
 * Binds the real libraries to the service's ports. Kept to one file so that the rest of the service depends
 * only on the narrow ports in ports.ts.
 */
import {
  configureDecoderCaches,
  countWritten,
  decoderCacheStats,
  decodeReadRequest,
  decodeWriteRequest,
  encodeReadResponse,
  parseWriteContentType,
  peekWriteRequest,
} from '@promha/codec';
import { Election, splitByCluster } from '@promha/election';
import { openStorage, startEmbeddedPostgres } from '@promha/storage';
import type { Libraries } from '../service.js';

export function realLibraries(): Libraries {
  return {
    codec: { parseWriteContentType, decodeWriteRequest, peekWriteRequest, countWritten, decodeReadRequest, encodeReadResponse },
    split: (series, labels) => splitByCluster(series, labels),
    decoderCaches: {
      configure: (labelSetsMax) => {
        configureDecoderCaches({ labelSetsMax });
      },
      stats: () => decoderCacheStats().labelSets,
    },
    openStorage,
    createElection: (deps) => new Election(deps),
    startEmbeddedPostgres,
  };
}
