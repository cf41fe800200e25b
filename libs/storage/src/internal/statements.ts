/**
 * Named statements: the ones every flush runs (interning's stay unnamed, see docs/design.md). node-postgres sends a
 * named statement's text once per connection (Parse), and from then on only binds values to it, so PostgreSQL parses
 * and analyses it once per connection instead of on every call, and after five runs plans it once too when a generic
 * plan costs no more (plan_cache_mode auto). Parsing, analysing and planning were about 30% of the server's CPU under the vm
 * bench's load (docs/decisions/0004-ingest-throughput.md, fifth pass).
 *
 * A connection pooler that moves sessions between server connections mid-session (PgBouncer in transaction mode
 * before 1.21) loses named statements: `--db.statements-cache=false` (`StorageOptions.statementsCache`) sends every
 * statement unnamed, as Promscale's flag of the same name did.
 */
import pg from 'pg';
import { UNNAMED } from './pipelined.js';

/** A statement with its name on the connection. */
export interface Statement {
  readonly name: string;
  readonly text: string;
}

const registered = new Map<string, string>();

/**
 * Names `text`. A name stands for one text: node-postgres refuses a second text under a name a connection has
 * already prepared, so registering one twice is a bug found when the module loads.
 */
export function statement(name: string, text: string): Statement {
  const had = registered.get(name);
  if (had !== undefined && had !== text) throw new Error(`statement name ${name} is already used for another text`);
  registered.set(name, text);
  return { name, text };
}

/** Runs a named statement. */
export function run<R extends pg.QueryResultRow = pg.QueryResultRow>(client: pg.ClientBase | pg.Pool, s: Statement, values: readonly unknown[]): Promise<pg.QueryResult<R>> {
  return client.query<R>({ name: s.name, text: s.text, values: values as unknown[] });
}

type AnyFn = (...args: unknown[]) => unknown;

/**
 * A client class that sends every statement unnamed (`--db.statements-cache=false`): the name of a query config is
 * dropped before node-postgres sees it. Wraps the instance's own `query`, so it composes with a class that replaces
 * `query` per instance (the simulator's gated client).
 */
export function withoutStatementNames(Base: typeof pg.Client): typeof pg.Client {
  return class UnnamedStatementsClient extends Base {
    /** Read by pipelines, which write their statements' messages themselves (pipelined.ts). */
    readonly [UNNAMED] = true;

    constructor(config?: string | pg.ClientConfig) {
      super(config);
      const query = (this.query as AnyFn).bind(this);
      Object.assign(this, {
        query: (first: unknown, ...rest: unknown[]): unknown => query(unnamed(first), ...rest),
      });
    }
  };
}

function unnamed(config: unknown): unknown {
  if (typeof config !== 'object' || config === null || !('name' in config) || 'submit' in config) return config;
  const rest: { name?: string } = { ...(config as { name?: string }) };
  delete rest.name;
  return rest;
}
