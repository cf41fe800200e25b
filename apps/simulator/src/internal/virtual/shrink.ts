/**
 * Shrinks a failing fault schedule: drops one fault at a time and keeps the drop when the run still fails, until
 * no single fault can go. `fails` runs the scenario with only the given fault ids.
 */
export async function shrinkFaults(ids: readonly number[], fails: (keep: ReadonlySet<number>) => Promise<boolean>): Promise<number[]> {
  let keep = [...ids];
  for (let changed = true; changed; ) {
    changed = false;
    for (const id of [...keep]) {
      const trial = keep.filter((x) => x !== id);
      if (await fails(new Set(trial))) {
        keep = trial;
        changed = true;
      }
    }
  }
  return keep;
}
