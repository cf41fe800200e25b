/** The database's wall clock in ms since the epoch, as a SQL expression (one clock for every instance). */
export const NOW_MS = `(extract(epoch from clock_timestamp()) * 1000)::bigint`;
