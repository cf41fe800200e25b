/**
 * Several statements in one round trip: the extended protocol's messages of every step written at once, one Sync
 * at the end, the answers read as they come. PostgreSQL runs the steps in order and, after a failing one, skips the
 * rest up to the Sync.
 *
 * Why: a flush ran eight statements one after the other, and under load each answer waited for the event loop to
 * finish decoding other requests before the next statement went out (about 3-5 ms a round trip on two busy cores,
 * docs/decisions/0004-ingest-throughput.md, sixth pass). node-postgres' own pipelining (`pipeline: true`) is
 * a property of the client for its whole life and refuses COPY; this is one query object that pg drives like any
 * other (its messages are routed to it until ReadyForQuery), so a connection mixes it with ordinary queries.
 *
 * A COPY step sends its data right behind its Execute, without waiting for CopyInResponse: the server reads the
 * copy stream from the socket in order, and after an earlier failure it drops CopyData and CopyDone as the
 * protocol says (they arrive while it skips to the Sync).
 *
 * After a failure the connection must not be reused: the named statements this pipeline prepared may or may not
 * exist on the server, and an explicit transaction it began is left aborted. {@link pipeline} marks the error so
 * that `withClient` discards the connection.
 */
import { EventEmitter } from 'node:events';
import pg from 'pg';
import { promhaTypes } from './pg-types.js';
import type { Statement } from './statements.js';

/** One step: a named statement with values, a statement without parameters, or a COPY FROM STDIN with its data. */
export type Step = StatementStep | { readonly text: string } | { readonly copy: string; readonly data: Uint8Array };

/** A named statement with its values. */
export interface StatementStep {
  readonly statement: Statement;
  readonly values: readonly unknown[];
}

/** A pipeline that failed: the error, and the step it belongs to (undefined: the connection's, not a step's). */
export class PipelineFailure extends Error {
  constructor(
    readonly error: unknown,
    readonly step: number | undefined,
  ) {
    super(error instanceof Error ? error.message : String(error));
    this.name = 'PipelineFailure';
  }
}

/** What node-postgres' connection offers a query object (pg/lib/connection.js). */
interface Connection {
  readonly stream: { readonly writable: boolean; cork?: () => void; uncork?: () => void; write(chunk: Uint8Array): boolean };
  readonly parsedStatements: Record<string, string | undefined>;
  readonly submittedNamedStatements: Record<string, string | undefined>;
  parse(q: { text: string; name: string; types: never[] }): void;
  bind(b: { portal: string; statement: string; values: readonly unknown[]; valueMapper: (v: unknown) => unknown }): void;
  describe(d: { type: 'P'; name: string }): void;
  execute(e: { portal: string; rows: number }): void;
  sync(): void;
  endCopyFrom(): void;
  sendCopyFail(message: string): void;
}

/** pg's result builder (exported by pg, not typed by @types/pg). */
interface ResultBuilder extends pg.QueryResult {
  addFields(fields: unknown[]): void;
  parseRow(fields: unknown[]): pg.QueryResultRow;
  addRow(row: pg.QueryResultRow): void;
  addCommandComplete(msg: unknown): void;
}

type PrepareValue = (v: unknown) => unknown;

const { Result, utils } = pg as unknown as {
  Result: new (rowMode: undefined, types: pg.CustomTypesConfig) => ResultBuilder;
  utils: { readonly prepareValue: PrepareValue };
};

/** pg's own mapping of a JavaScript value to a parameter (arrays to array literals, dates, buffers). */
const prepareValue: PrepareValue = (v) => utils.prepareValue(v);

/** Set on a client class whose statements go unnamed (statements.ts, `--db.statements-cache=false`). */
export const UNNAMED = Symbol('promha.unnamed-statements');

/**
 * The query object. An EventEmitter because the simulator's gate (gate.ts) hands query objects to its scheduler by
 * their events; it never emits `'error'` itself (nobody may be listening), but a gate's `'error'` fails it.
 */
export class Pipeline extends EventEmitter {
  readonly text: string;
  /** Settles when the server has answered every step (or the pipeline failed). */
  readonly settled: Promise<pg.QueryResult[]>;
  private readonly results: ResultBuilder[];
  /** Named statements this pipeline prepares on its connection. */
  private readonly prepared: Statement[] = [];
  private current = 0;
  private done = false;
  private resolve!: (r: pg.QueryResult[]) => void;
  private reject!: (e: PipelineFailure) => void;

  constructor(
    private readonly steps: readonly Step[],
    private readonly named: boolean,
  ) {
    super();
    this.text = steps.map(textOf).join(';\n');
    this.results = steps.map(() => new Result(undefined, promhaTypes));
    this.settled = new Promise((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
    this.on('error', (e: unknown) => this.fail(e, undefined));
  }

  /** Called by pg when the connection is ready for this query: writes every step and the Sync. */
  submit(connection: Connection): void {
    connection.stream.cork?.();
    try {
      for (const step of this.steps) {
        if ('statement' in step) {
          const name = this.named ? step.statement.name : '';
          const text = step.statement.text;
          if (name === '' || (connection.parsedStatements[name] === undefined && connection.submittedNamedStatements[name] === undefined)) {
            connection.parse({ text, name, types: [] });
            if (name !== '') {
              connection.submittedNamedStatements[name] = text;
              this.prepared.push(step.statement);
            }
          }
          connection.bind({ portal: '', statement: name, values: step.values, valueMapper: prepareValue });
          connection.describe({ type: 'P', name: '' });
          connection.execute({ portal: '', rows: 0 });
        } else if ('copy' in step) {
          connection.parse({ text: step.copy, name: '', types: [] });
          connection.bind({ portal: '', statement: '', values: [], valueMapper: prepareValue });
          connection.execute({ portal: '', rows: 0 });
          copyData(connection, step.data);
          connection.endCopyFrom();
        } else {
          connection.parse({ text: step.text, name: '', types: [] });
          connection.bind({ portal: '', statement: '', values: [], valueMapper: prepareValue });
          connection.execute({ portal: '', rows: 0 });
        }
      }
    } finally {
      // The Sync goes out whatever happened above, so the server answers ReadyForQuery and pg moves on.
      connection.sync();
      connection.stream.uncork?.();
    }
  }

  handleRowDescription(msg: { fields: unknown[] }): void {
    this.results[this.current]?.addFields(msg.fields);
  }

  handleDataRow(msg: { fields: unknown[] }): void {
    const r = this.results[this.current];
    if (r === undefined || this.done) return;
    try {
      r.addRow(r.parseRow(msg.fields));
    } catch (e: unknown) {
      this.fail(e, this.current);
    }
  }

  handleCommandComplete(msg: unknown): void {
    this.results[this.current]?.addCommandComplete(msg);
    this.current++;
  }

  handleEmptyQuery(): void {
    this.current++;
  }

  handlePortalSuspended(): void {
    // rows: 0 asks for every row; a suspended portal cannot happen.
    this.fail(new Error('pipeline: portal suspended'), this.current);
  }

  handleCopyInResponse(connection: Connection): void {
    // The data went out behind the Execute; a COPY step is the only one that may ask for it.
    const step = this.steps[this.current];
    if (step === undefined || !('copy' in step)) connection.sendCopyFail('unexpected COPY in a pipeline');
  }

  handleCopyData(): void {
    // COPY TO is never a step.
  }

  handleError(err: unknown): void {
    // pg has already let go of this query: the server skips to the Sync, and the ReadyForQuery goes to nobody. An
    // error the server sent belongs to the step it was answering; any other (the socket, a timeout) to none.
    this.fail(err, err instanceof pg.DatabaseError && this.current < this.steps.length ? this.current : undefined);
  }

  handleReadyForQuery(connection: Connection): void {
    if (this.done) return;
    if (this.current !== this.steps.length) {
      this.fail(new Error(`pipeline: ${this.current} of ${this.steps.length} steps answered`), undefined);
      return;
    }
    // Every step ran, so the statements this pipeline named are prepared: recorded as pg records its own (it
    // forgets a name only submitted when a later query of that name fails, and would then prepare it twice).
    for (const { name, text } of this.prepared) {
      connection.parsedStatements[name] = text;
      Reflect.deleteProperty(connection.submittedNamedStatements, name);
    }
    this.done = true;
    this.emit('end');
    this.resolve(this.results);
  }

  private fail(error: unknown, step: number | undefined): void {
    if (this.done) return;
    this.done = true;
    this.emit('end');
    this.reject(new PipelineFailure(error, step));
  }
}

/**
 * One CopyData message holding `data`, its header written apart: pg's serializer would copy the data into a buffer of
 * its own first (a flush's COPY is hundreds of kilobytes). The socket holds on to `data` until it is sent, which is
 * before the server can answer.
 */
function copyData(connection: Connection, data: Uint8Array): void {
  // As pg's own writes: nothing goes to a socket that has ended (pg reports the connection's end).
  if (!connection.stream.writable) return;
  const header = Buffer.allocUnsafe(5);
  header[0] = 0x64; // 'd'
  header.writeInt32BE(data.byteLength + 4, 1);
  connection.stream.write(header);
  connection.stream.write(data);
}

function textOf(step: Step): string {
  return 'statement' in step ? step.statement.text : 'copy' in step ? step.copy : step.text;
}

/**
 * Runs `steps` in one round trip on `client`. Resolves with each step's result; rejects with a
 * {@link PipelineFailure}. Statements go named unless the client's class sends them unnamed.
 */
export function pipeline(client: pg.ClientBase, steps: readonly Step[]): Promise<pg.QueryResult[]> {
  const named = (client as unknown as Record<symbol, unknown>)[UNNAMED] !== true;
  const p = new Pipeline(steps, named);
  // pg answers a query object with the object itself; the simulator's gate answers with a promise it delivers on
  // its own schedule (gate.ts).
  const answer: unknown = client.query(p as unknown as pg.QueryConfig);
  if (!(answer instanceof Promise)) return p.settled;
  return (answer as Promise<pg.QueryResult[]>).catch((e: unknown) => {
    throw e instanceof PipelineFailure ? e : new PipelineFailure(e, undefined);
  });
}
