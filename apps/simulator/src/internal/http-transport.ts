import { Agent, request as httpRequest } from 'node:http';
import { ORIGIN_HEADER } from './lb.js';
import type { OutgoingWrite, SendResult, Transport } from './replica.js';

/** Sends a replica's remote-write requests over HTTP, with the headers Prometheus 2.42 sets for 1.0. */
export class HttpTransport implements Transport {
  private readonly agent = new Agent({ keepAlive: true, maxSockets: 16 });

  constructor(
    private readonly port: number,
    private readonly timeoutMs: number,
  ) {}

  send(w: OutgoingWrite): Promise<SendResult> {
    return new Promise((resolve) => {
      const r = httpRequest(
        {
          host: '127.0.0.1',
          port: this.port,
          path: '/api/v1/write',
          method: 'POST',
          agent: this.agent,
          timeout: this.timeoutMs,
          headers: {
            'content-type': 'application/x-protobuf',
            'content-encoding': 'snappy',
            'x-prometheus-remote-write-version': '0.1.0',
            'user-agent': 'promha-sim',
            'content-length': String(w.body.length),
            [ORIGIN_HEADER]: `${w.cluster}/${w.replica}`,
          },
        },
        (res) => {
          res.resume();
          res.on('end', () => resolve({ kind: 'answer', status: res.statusCode ?? 0 }));
          res.on('error', (e) => resolve({ kind: 'network-error', message: e.message }));
        },
      );
      r.on('timeout', () => r.destroy(new Error('request timeout')));
      r.on('error', (e) => resolve({ kind: 'network-error', message: e.message }));
      r.end(w.body);
    });
  }

  close(): void {
    this.agent.destroy();
  }
}
