import type { IngestCrash, LeaderChange, StoredSample } from './checkers.js';

/**
 * The system under test as the runner sees it: N ingest instances (by port) over one database, which the fault
 * schedule can kill and restart, and from which the stored data and the leader history are read back.
 */
export interface IngestTier {
  /** A short description for the log: which ingest, which database. */
  readonly description: string;
  /** Ports of every instance (a killed one refuses connections until restarted). */
  ports(): readonly number[];
  kill(instance: number): Promise<void>;
  /** OS process id of a running instance (real processes only), for tests that crash one from outside. */
  pid(instance: number): number | undefined;
  restart(instance: number): Promise<void>;
  /** Whether the database can be restarted (not with a database given by URI). */
  readonly canRestartDatabase: boolean;
  stopDatabase(): Promise<void>;
  startDatabase(): Promise<void>;
  /**
   * A burst of heavy load on (true) or off: the real tier saturates the machine's cores, the deterministic mode
   * makes every database operation many times slower. Absent: the tier cannot (the fault is skipped).
   */
  readonly loadBurst?: ((on: boolean) => Promise<void>) | undefined;
  /** Terminates the database backends that are running a statement or inside a transaction; resolves to how many. */
  killBackends(): Promise<number>;
  /** Instances that exited although nothing asked them to (no kill, no close), in order; atMs relative to `wallBase`. */
  crashes(wallBase: number): readonly IngestCrash[];
  /** The replica that currently leads `cluster`, when known. */
  leaderOf(cluster: number): Promise<number | undefined>;
  /**
   * Samples the running instances' standby buffers dropped at their byte bound, per cluster index
   * (`promha_ha_standby_overflow_samples_total`); read before the stored data. Absent: the tier keeps no buffers.
   */
  readonly standbyOverflow?: (() => Promise<readonly number[]>) | undefined;
  /** Every stored sample of the simulator's metric. */
  readStored(): Promise<StoredSample[]>;
  /** Leader changes (atMs relative to `wallBase`), or undefined when there is no history (HA off). */
  readHistory(wallBase: number): Promise<LeaderChange[] | undefined>;
  close(): Promise<void>;
}
