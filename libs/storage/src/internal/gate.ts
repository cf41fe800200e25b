/**
 * The statement gate seam: a pool whose connections hand every operation (connecting, a statement, a COPY) to a
 * {@link StatementGate} before it reaches PostgreSQL. Production passes no gate and gets the plain pg client; the
 * simulator's deterministic mode passes one that runs operations one at a time in its own order.
 */
import type { EventEmitter } from 'node:events';
import pg from 'pg';
import type { StatementGate } from '../api.js';
import { Pipeline } from './pipelined.js';

type Callback = (err: unknown, result?: unknown) => void;
type AnyFn = (...args: unknown[]) => unknown;

interface Submittable extends EventEmitter {
  submit: AnyFn;
  text?: string;
}

function isSubmittable(x: unknown): x is Submittable {
  return typeof x === 'object' && x !== null && typeof (x as { submit?: unknown }).submit === 'function';
}

function textOf(x: unknown): string {
  if (typeof x === 'string') return x;
  if (typeof x === 'object' && x !== null && typeof (x as { text?: unknown }).text === 'string') return (x as { text: string }).text;
  return '';
}

/** A pg.Client class whose `connect` and `query` go through `gate`; the pool is given it as its `Client`. */
export function gatedClient(gate: StatementGate, timeoutMs: number | undefined): typeof pg.Client {
  return class GatedClient extends pg.Client {
    constructor(config?: string | pg.ClientConfig) {
      super(config);
      // Instance properties over the prototype's methods: pg's overloads stay as they are for every caller.
      const connect = (pg.Client.prototype.connect as AnyFn).bind(this);
      const query = (pg.Client.prototype.query as AnyFn).bind(this);
      const pid = (): number | undefined => (this as unknown as { processID?: number | null }).processID ?? undefined;
      Object.assign(this, {
        connect: (callback?: Callback): unknown => {
          // pg-pool listens for 'error' once its connect callback ran, which without a gate is the moment the
          // connection is ready. A gate may hold a finished connect's answer for a while, and the session can be
          // terminated meanwhile: that error is held here and fails the connect, as it would have without a gate.
          let lost: Error | undefined;
          const hold = (e: Error): void => {
            lost ??= e;
          };
          this.on('error', hold);
          const p = gate
            .run({ kind: 'connect', text: '', backendPid: undefined, connection: this, timeoutMs: undefined }, () => connect() as Promise<void>)
            .finally(() => this.removeListener('error', hold))
            .then(() => {
              if (lost !== undefined) throw lost;
            });
          if (callback === undefined) return p;
          p.then(() => callback(undefined), (e: unknown) => callback(e));
          return undefined;
        },
        query: (...args: unknown[]): unknown => {
          const first = args[0];
          if (first instanceof Pipeline) {
            // Statements in one round trip: answered like a query, when the gate delivers.
            return gate.run({ kind: 'query', text: first.text, backendPid: pid(), connection: this, timeoutMs }, () => {
              query(first);
              return first.settled;
            });
          }
          if (isSubmittable(first)) {
            // A COPY stream: it buffers what is written until the server asks for data, so it can wait for the gate.
            // Done when it finishes (or fails); its own events reach the caller as usual.
            void gate
              .run({ kind: 'copy', text: textOf(first), backendPid: pid(), connection: this, timeoutMs }, () => {
                const done = new Promise<void>((resolve) => {
                  first.once('finish', () => resolve());
                  first.once('end', () => resolve());
                  first.once('error', () => resolve());
                });
                query(first);
                return done;
              })
              .catch((e: unknown) => first.emit('error', e));
            return first;
          }
          const last = args[args.length - 1];
          const callback = typeof last === 'function' ? (args.pop() as Callback) : undefined;
          const p = gate.run({ kind: 'query', text: textOf(first), backendPid: pid(), connection: this, timeoutMs }, () => query(...args) as Promise<unknown>);
          if (callback === undefined) return p;
          p.then((r) => callback(undefined, r), (e: unknown) => callback(e));
          return undefined;
        },
      });
    }
  };
}
