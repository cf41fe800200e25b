import type { MetricMetadata } from '@promha/codec';
import { NOW_MS } from './sql.js';

/** Upserts metric metadata; a row changes only when its content does, so every replica sending it is idempotent. */
export const METADATA_SQL = `
INSERT INTO metric_metadata (metric_family_name, type, help, unit, updated_wall)
SELECT DISTINCT ON (n) n, t, h, u, ${NOW_MS} FROM unnest($1::text[], $2::text[], $3::text[], $4::text[]) AS x(n, t, h, u) ORDER BY n
ON CONFLICT (md5(metric_family_name)) DO UPDATE
  SET type = EXCLUDED.type, help = EXCLUDED.help, unit = EXCLUDED.unit, updated_wall = EXCLUDED.updated_wall
  WHERE (metric_metadata.type, metric_metadata.help, metric_metadata.unit)
    IS DISTINCT FROM (EXCLUDED.type, EXCLUDED.help, EXCLUDED.unit)`;

export function metadataParams(metadata: readonly MetricMetadata[]): unknown[] {
  return [metadata.map((m) => m.metricFamilyName), metadata.map((m) => m.type), metadata.map((m) => m.help), metadata.map((m) => m.unit)];
}
