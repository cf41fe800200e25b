import pg from 'pg';

/**
 * Type parsers for our pools: int8 as a JS number (every bigint we store is a millisecond time, an epoch or an id,
 * all far below 2^53), int8[] likewise. Everything else as node-postgres parses it by default.
 */
const INT8 = 20;
const INT8_ARRAY = 1016;

const parseInt8 = (v: string): number => Number(v);
const parseInt8Array = (v: string): number[] => {
  if (v === '{}') return [];
  return v.slice(1, -1).split(',').map(Number);
};

const defaults = pg.types.getTypeParser.bind(pg.types) as (oid: number, format: 'text' | 'binary') => (v: string) => unknown;

function getTypeParser(oid: number, format?: 'text' | 'binary'): (v: string) => unknown {
  if (format !== 'binary' && oid === INT8) return parseInt8;
  if (format !== 'binary' && oid === INT8_ARRAY) return parseInt8Array;
  return defaults(oid, format ?? 'text');
}

export const promhaTypes: pg.CustomTypesConfig = { getTypeParser };
