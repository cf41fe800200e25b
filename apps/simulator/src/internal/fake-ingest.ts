import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { LeaderChange, StoredSample } from './checkers.js';
import { clusterIndex, replicaIndex } from './values.js';
import { decodeWriteRequestV1, snappyDecode } from './wire.js';

interface ClusterLease {
  leader: string;
  epoch: number;
  start: number;
  until: number;
  lastSeenWall: number;
  /** Greatest data time stored under this lease (the commit mark a takeover splices after). */
  committed: number | undefined;
  /** Closed intervals of earlier leaders: their late samples inside stay storable. */
  closed: { leader: string; start: number; end: number }[];
}

/**
 * A reference model of the ingest tier for tests of the simulator itself: the HA rules of docs/design.md in their
 * simplest form (one lease per cluster in data time, takeover when the challenger's data reached `until` and
 * nobody heard from the leader for a timeout of wall time; the new lease starts just after the old leader's last
 * stored sample and is filled from the deduplicated data kept meanwhile), over an in-memory store shared by every
 * instance.
 * It stores each (series, time, value) once, so retries and duplicate deliveries are idempotent.
 * With `highAvailability: false` it stores every replica's data as sent (with the replica label removed, so the
 * overlap is visible in the data). `down` plays a database outage: every write answers 503.
 */
export class FakeIngestStore {
  private readonly leases = new Map<string, ClusterLease>();
  private readonly samples = new Map<string, StoredSample>();
  private readonly changes: {
    cluster: string;
    epoch: number;
    leader: string;
    start: number;
    wall: number;
  }[] = [];
  /** Deduplicated samples per (cluster, replica): the standby buffer, unbounded in this model. */
  private readonly standby = new Map<string, { key: string; t: number; value: number }[]>();
  down = false;

  constructor(
    private readonly o: {
      readonly highAvailability: boolean;
      readonly leaseTimeoutMs: number;
      readonly wallNow: () => number;
    },
  ) {}

  write(body: Uint8Array): number {
    if (this.down) return 503;
    let series;
    try {
      series = decodeWriteRequestV1(snappyDecode(body, 64 << 20));
    } catch {
      return 400;
    }
    const byPart = new Map<
      string,
      {
        cluster: string;
        replica: string;
        items: { key: string; t: number; value: number }[];
      }
    >();
    for (const s of series) {
      const cluster = s.labels.find((l) => l.name === 'cluster')?.value ?? '';
      const replica = s.labels.find((l) => l.name === '__replica__')?.value ?? '';
      const key = `${cluster}/${s.labels.find((l) => l.name === 'series')?.value ?? ''}`;
      const partKey = `${cluster}\u0000${replica}`;
      let part = byPart.get(partKey);
      if (part === undefined) byPart.set(partKey, (part = { cluster, replica, items: [] }));
      for (const smp of s.samples) part.items.push({ key, t: smp.timestamp, value: smp.value });
    }
    let stored = 0;
    let total = 0;
    for (const part of byPart.values()) {
      total += part.items.length;
      const accept = this.o.highAvailability ? this.decide(part.cluster, part.replica, part.items) : () => true;
      const buffered = this.standby.get(`${part.cluster}\u0000${part.replica}`);
      for (const it of part.items) {
        if (!accept(it.t)) {
          if (this.o.highAvailability) {
            if (buffered === undefined) this.standby.set(`${part.cluster}\u0000${part.replica}`, [it]);
            else buffered.push(it);
          }
          continue;
        }
        stored++;
        this.store(part.cluster, it);
      }
    }
    return stored === 0 && total > 0 ? 202 : 204;
  }

  private store(cluster: string, it: { key: string; t: number; value: number }): void {
    const id = `${it.key}\u0000${it.t}\u0000${it.value}`;
    if (!this.samples.has(id)) this.samples.set(id, { cluster, series: it.key, t: it.t, value: it.value });
  }

  private decide(cluster: string, replica: string, items: readonly { t: number }[]): (t: number) => boolean {
    if (items.length === 0) return () => false;
    const maxT = Math.max(...items.map((i) => i.t));
    const wall = this.o.wallNow();
    let lease = this.leases.get(cluster);
    if (lease === undefined) {
      // The first lease starts at the beginning of data time.
      lease = {
        leader: replica,
        epoch: 1,
        start: Number.MIN_SAFE_INTEGER,
        until: maxT + this.o.leaseTimeoutMs,
        lastSeenWall: wall,
        committed: undefined,
        closed: [],
      };
      this.leases.set(cluster, lease);
      this.changes.push({
        cluster,
        epoch: 1,
        leader: replica,
        start: lease.start,
        wall,
      });
    } else if (lease.leader !== replica && maxT >= lease.until && wall - lease.lastSeenWall >= this.o.leaseTimeoutMs) {
      const splice = lease.committed === undefined ? lease.until : Math.max(lease.start, lease.committed + 1);
      lease.closed.push({
        leader: lease.leader,
        start: lease.start,
        end: splice,
      });
      lease.leader = replica;
      lease.epoch++;
      lease.start = splice;
      lease.committed = undefined;
      // Fill from the standby buffer: the new leader's deduplicated data from the splice point on.
      const buffered = this.standby.get(`${cluster}\u0000${replica}`) ?? [];
      this.standby.delete(`${cluster}\u0000${replica}`);
      for (const it of buffered) {
        if (it.t < splice) continue;
        this.store(cluster, it);
        lease.committed = Math.max(lease.committed ?? it.t, it.t);
      }
      lease.until = maxT + this.o.leaseTimeoutMs;
      lease.lastSeenWall = wall;
      this.changes.push({
        cluster,
        epoch: lease.epoch,
        leader: replica,
        start: lease.start,
        wall,
      });
    }
    const l = lease;
    if (l.leader === replica) {
      l.until = Math.max(l.until, maxT + this.o.leaseTimeoutMs);
      l.lastSeenWall = wall;
    }
    const closed = l.closed.filter((c) => c.leader === replica);
    return (t) => {
      if (l.leader === replica && t >= l.start) {
        l.committed = Math.max(l.committed ?? t, t);
        return true;
      }
      return closed.some((c) => c.start <= t && t < c.end);
    };
  }

  leaderOf(cluster: string): string | undefined {
    return this.leases.get(cluster)?.leader;
  }

  stored(): StoredSample[] {
    return [...this.samples.values()];
  }

  history(wallBase: number): LeaderChange[] {
    return this.changes.flatMap((c) => {
      const cluster = clusterIndex(c.cluster);
      const leader = replicaIndex(c.leader);
      return cluster === undefined || leader === undefined
        ? []
        : [
            {
              cluster,
              epoch: c.epoch,
              leader,
              start: c.start,
              atMs: c.wall - wallBase,
            },
          ];
    });
  }
}

/** One in-process fake ingest instance over a shared {@link FakeIngestStore}. */
export class FakeIngestServer {
  private server: Server | undefined;
  port = 0;

  constructor(private readonly store: FakeIngestStore) {}

  async start(port = 0): Promise<number> {
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        if (req.method !== 'POST' || (req.url !== '/write' && req.url !== '/api/v1/write')) {
          res.writeHead(404).end();
          return;
        }
        const status = this.store.write(Buffer.concat(chunks));
        res.writeHead(status, status === 503 ? { 'retry-after': '1' } : {}).end();
      });
    });
    this.server = server;
    await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
    this.port = (server.address() as AddressInfo).port;
    return this.port;
  }

  /** Like kill -9: every connection is dropped at once. */
  async kill(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (server === undefined) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
