/**
 * The scrape target both replicas of the HA pair scrape: a tiny HTTP server exposing `e2e_scraper`, whose value
 * is the `scraper` URL parameter of the scrape. Each replica's configuration sends its own number, so every
 * stored sample of `e2e_scraper` says which replica's data promha kept for that instant of data time, while the
 * series itself (target labels) is the same for both replicas.
 */
import { createServer, type Server } from 'node:http';

export interface ScrapeTarget {
  readonly port: number;
  /** Scrapes served so far, by `scraper` parameter. */
  scrapes(scraper: number): number;
  close(): Promise<void>;
}

export const SCRAPER_METRIC = 'e2e_scraper';

export function startScrapeTarget(): Promise<ScrapeTarget> {
  const counts = new Map<number, number>();
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://target');
    const scraper = Number(url.searchParams.get('scraper'));
    if (url.pathname !== '/metrics' || !Number.isInteger(scraper) || scraper <= 0) {
      res.writeHead(404).end('want /metrics?scraper=<positive integer>\n');
      return;
    }
    counts.set(scraper, (counts.get(scraper) ?? 0) + 1);
    res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' });
    res.end(`# HELP ${SCRAPER_METRIC} Which replica scraped this sample.\n# TYPE ${SCRAPER_METRIC} gauge\n${SCRAPER_METRIC} ${scraper}\n`);
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      resolve({
        port,
        scrapes: (scraper) => counts.get(scraper) ?? 0,
        close: () =>
          new Promise<void>((done) => {
            server.closeAllConnections();
            server.close(() => done());
          }),
      });
    });
  });
}
