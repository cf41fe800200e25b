/**
 * Binds the real libraries to the service's ports. PLACEHOLDER until @promha/codec, @promha/election and
 * @promha/storage export their implementations: each entry fails loudly naming what is missing.
 */
import { startEmbeddedPostgres } from '@promha/storage/testing';
import type { Libraries } from '../service.js';

function missing(what: string): never {
  throw new Error(`${what} has not landed yet; the service cannot run without it`);
}

export function realLibraries(): Libraries {
  return {
    codec: {
      parseWriteContentType: () => missing('@promha/codec parseWriteContentType'),
      decodeWriteRequest: () => missing('@promha/codec decodeWriteRequest'),
      countWritten: () => missing('@promha/codec countWritten'),
      decodeReadRequest: () => missing('@promha/codec decodeReadRequest'),
      encodeReadResponse: () => missing('@promha/codec encodeReadResponse'),
    },
    split: () => missing('@promha/election splitByCluster'),
    openStorage: () => Promise.reject(new Error('@promha/storage openStorage has not landed yet')),
    createElection: () => missing('@promha/election Election'),
    startEmbeddedPostgres,
  };
}
