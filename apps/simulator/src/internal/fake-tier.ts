import type { LeaderChange, StoredSample } from './checkers.js';
import { clusterName, replicaIndex } from './values.js';
import { FakeIngestServer, FakeIngestStore } from './fake-ingest.js';
import type { IngestTier } from './tier.js';

/** An {@link IngestTier} of in-process fake ingest instances over one in-memory store (tests, no PostgreSQL). */
export async function startFakeTier(options: {
  readonly instances: number;
  readonly highAvailability: boolean;
  readonly leaseTimeoutMs: number;
  readonly wallNow: () => number;
}): Promise<IngestTier> {
  const store = new FakeIngestStore(options);
  const servers = Array.from({ length: options.instances }, () => new FakeIngestServer(store));
  const ports: number[] = [];
  for (const s of servers) ports.push(await s.start());
  return {
    description: `${options.instances} in-process fake ingest instance(s), in-memory store`,
    ports: () => ports,
    kill: (i) => servers[i]?.kill() ?? Promise.resolve(),
    restart: async (i) => {
      await servers[i]?.start(ports[i]);
    },
    canRestartDatabase: true,
    stopDatabase: () => {
      store.down = true;
      return Promise.resolve();
    },
    startDatabase: () => {
      store.down = false;
      return Promise.resolve();
    },
    killBackends: () => Promise.resolve(0),
    pid: () => undefined,
    crashes: () => [],
    leaderOf: (cluster) => {
      const leader = store.leaderOf(clusterName(cluster));
      return Promise.resolve(leader === undefined ? undefined : replicaIndex(leader));
    },
    readStored: (): Promise<StoredSample[]> => Promise.resolve(store.stored()),
    readHistory: (wallBase): Promise<LeaderChange[] | undefined> =>
      Promise.resolve(options.highAvailability ? store.history(wallBase) : undefined),
    close: async () => {
      for (const s of servers) await s.kill();
    },
  };
}
