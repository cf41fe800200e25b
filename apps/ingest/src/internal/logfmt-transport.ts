/**
 * `--log.format=logfmt` as a pino transport: pino runs this module in a worker thread (`pino.transport`), so the
 * main thread only writes its JSON lines into a shared buffer and never parses them again. The worker turns each
 * line into logfmt (logfmt.ts) and writes it to the destination, waiting for `drain` whenever the destination's
 * buffer is full, so a slow reader of the output slows the worker, not the service.
 */
import { once } from 'node:events';
import build from 'pino-abstract-transport';
import pino from 'pino';
import { toLogfmt } from './logfmt.js';

export interface LogfmtTransportOptions {
  /** File descriptor or path written to; default 1 (stdout). */
  readonly destination?: number | string;
}

export default async function logfmtTransport(options: LogfmtTransportOptions = {}): Promise<ReturnType<typeof build>> {
  const out = pino.destination({ dest: options.destination ?? 1, sync: false });
  await once(out, 'ready');
  return build(
    async (source: AsyncIterable<string>) => {
      for await (const line of source) {
        if (!out.write(`${toLogfmt(line)}\n`)) await once(out, 'drain');
      }
    },
    {
      parse: 'lines',
      async close() {
        out.end();
        await once(out, 'close');
      },
    },
  );
}
