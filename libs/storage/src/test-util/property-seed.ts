/**
 * One seed per property, printed so a failure can be replayed with PROMHA_FC_SEED=<seed> (and PROMHA_FC_PATH=<path>
 * to skip shrinking). Test code only.
 */
export function propertySeed(name: string): number {
  const seed = process.env['PROMHA_FC_SEED'] === undefined ? (Date.now() ^ (process.pid << 8)) >>> 1 : Number(process.env['PROMHA_FC_SEED']);
  console.log(`[${name}] fast-check seed ${seed} (replay with PROMHA_FC_SEED=${seed})`);
  return seed;
}
