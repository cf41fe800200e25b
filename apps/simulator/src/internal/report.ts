import { CHECK_NAMES, violationScope, type Segment } from './checkers.js';
import { reproduceCommand } from './cli.js';
import { describeFault, type Fault } from './faults.js';
import type { RunResult } from './runner.js';
import { clusterName } from './values.js';

/** The summary table printed at the end of a run. */
export function summaryTable(r: RunResult): string {
  const header = ['cluster', 'leader changes', 'largest gap', 'largest across a takeover', 'sent', 'acked', 'stored', 'deduplicated', 'violations'];
  const rows = r.check.clusters.map((c) => [
    clusterName(c.cluster),
    String(c.leaderChanges),
    c.largestGap === undefined ? '-' : `${c.largestGap.ms} ms (${c.largestGap.cause})`,
    c.largestTakeoverGapMs === undefined ? '-' : `${c.largestTakeoverGapMs} ms`,
    String(c.samplesSent),
    String(c.samplesAcked),
    String(c.samplesStored),
    String(c.samplesDeduplicated),
    String(c.violations),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  const line = (cells: readonly string[]): string =>
    cells
      .map((c, i) => c.padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

/** Everything needed to reproduce and understand a run, as plain JSON. */
export function reportJson(r: RunResult): unknown {
  return {
    verdict: r.check.violations.length === 0 ? 'pass' : 'fail',
    seed: r.scenario.seed,
    scenario: r.scenario,
    tier: r.tier,
    wallStartMs: r.wallStartMs,
    dataBaseMs: r.dataBaseMs,
    skews: r.skews,
    faults: r.faults.map((f) => ({ ...f, text: describeFault(f) })),
    faultEvents: r.faultEvents,
    balancer: r.balancer,
    gapBoundMs: r.check.gapBoundMs,
    violations: r.check.violations.map((v) => ({ ...v, checkName: CHECK_NAMES[v.check] })),
    clusters: r.check.clusters,
    leaderHistory: r.history ?? null,
  };
}

// Blues and greens for stored data, so that they never look like a fault mark.
const REPLICA_COLORS = ['#4c78a8', '#59a14f', '#2f4b7c', '#8aa54d', '#5d8aa8', '#3b7d6e', '#7a8b99', '#a0b86a'];
const FAULT_COLORS: Readonly<Record<Fault['kind'], string>> = {
  'replica-crash': '#d62728',
  'replica-cut': '#ff7f0e',
  'slow-link': '#bcbd22',
  'lossy-link': '#9467bd',
  'duplicate-delivery': '#17becf',
  'ingest-kill': '#8c564b',
  'postgres-restart': '#e377c2',
  'clock-jump': '#111111',
  'backend-kill': '#7f7f7f',
  'load-burst': '#f7b6d2',
};

const esc = (s: string): string =>
  s.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;').replaceAll('"', '&quot;');

/**
 * A self-contained HTML report: verdict, summary, violations, the fault schedule, and per cluster an SVG
 * timeline on the run's time axis with one row per replica (when its data was stored, the faults it suffered,
 * leader changes) and one row for the shared tier (ingest kills, PostgreSQL restarts), with gaps over the
 * failover bound shaded. Stored data is placed on the run's axis by removing the replica's skew and jumps.
 */
export function reportHtml(r: RunResult): string {
  const s = r.scenario;
  const pass = r.check.violations.length === 0;
  const endMs = s.durationMs + s.drainMs / 4;
  const W = 1200;
  const left = 90;
  const plotW = W - left - 20;
  const x = (ms: number): number => left + (Math.max(0, Math.min(endMs, ms)) / endMs) * plotW;
  const simOf = (cluster: number, replica: number, dataT: number): number => {
    let sim = dataT - r.dataBaseMs - (r.skews[cluster]?.[replica] ?? 0);
    for (const f of r.faults) {
      if (f.kind === 'clock-jump' && f.cluster === cluster && f.replica === replica && f.atMs + (f.jumpMs ?? 0) <= sim)
        sim -= f.jumpMs ?? 0;
    }
    return sim;
  };
  const rowH = 26;
  const svgs = r.check.clusters.map((c) => {
    const rows = s.replicas + 1;
    const H = 40 + rows * rowH + 30;
    const parts: string[] = [];
    const rowY = (i: number): number => 30 + i * rowH;
    // Grid and axis.
    const step = niceStep(endMs);
    for (let t = 0; t <= endMs; t += step) {
      parts.push(`<line x1="${x(t)}" x2="${x(t)}" y1="24" y2="${rowY(rows)}" stroke="#e5e5e5"/>`);
      parts.push(
        `<text x="${x(t)}" y="${rowY(rows) + 16}" font-size="11" text-anchor="middle" fill="#555">${(t / 1000).toFixed(step < 1000 ? 1 : 0)}s</text>`,
      );
    }
    parts.push(
      `<line x1="${x(s.durationMs)}" x2="${x(s.durationMs)}" y1="24" y2="${rowY(rows)}" stroke="#999" stroke-dasharray="4 3"/>`,
    );
    parts.push(
      `<text x="${x(s.durationMs) - 3}" y="20" font-size="10" fill="#777" text-anchor="end">scraping ends</text>`,
    );
    for (let rep = 0; rep < s.replicas; rep++) {
      parts.push(
        `<text x="${left - 8}" y="${rowY(rep) + 17}" font-size="12" text-anchor="end">r${rep} <tspan fill="#888" font-size="10">${r.skews[c.cluster]?.[rep] ?? 0}ms</tspan></text>`,
      );
      parts.push(`<rect x="${left}" y="${rowY(rep) + 4}" width="${plotW}" height="${rowH - 8}" fill="#f6f6f6"/>`);
    }
    parts.push(`<text x="${left - 8}" y="${rowY(s.replicas) + 17}" font-size="12" text-anchor="end">tier</text>`);
    parts.push(`<rect x="${left}" y="${rowY(s.replicas) + 4}" width="${plotW}" height="${rowH - 8}" fill="#f6f6f6"/>`);
    // Stored data per replica.
    for (const seg of c.segments) parts.push(segmentRect(seg, c.cluster));
    // Faults.
    for (const f of r.faults) {
      const color = FAULT_COLORS[f.kind];
      const title = `<title>${esc(describeFault(f))}</title>`;
      if (f.cluster !== undefined && f.cluster !== c.cluster) continue;
      const row = f.replica ?? s.replicas;
      const y = rowY(row);
      if (f.kind === 'clock-jump') {
        parts.push(
          `<g><line x1="${x(f.atMs)}" x2="${x(f.atMs)}" y1="${y + 1}" y2="${y + rowH - 1}" stroke="${color}" stroke-width="2"/><text x="${x(f.atMs) + 2}" y="${y + 10}" font-size="10">»</text>${title}</g>`,
        );
      } else {
        parts.push(
          `<rect x="${x(f.atMs)}" y="${y + 1}" width="${Math.max(2, x(f.atMs + f.durationMs) - x(f.atMs))}" height="5" fill="${color}">${title}</rect>`,
        );
      }
    }
    // Leader changes and gaps over the bound.
    for (const h of r.history ?? []) {
      if (h.cluster !== c.cluster || h.atMs === undefined) continue;
      const y = rowY(h.leader);
      parts.push(
        `<path d="M ${x(h.atMs)} ${y + rowH - 2} l -4 6 l 8 0 z" fill="#000"><title>epoch ${h.epoch}: r${h.leader} leads from data time ${h.start}</title></path>`,
      );
    }
    for (const o of c.overlaps) {
      const from = simOf(c.cluster, o.replicas[1], o.from);
      const to = simOf(c.cluster, o.replicas[1], o.to);
      parts.push(
        `<rect x="${x(from)}" y="${rowY(s.replicas) + 4}" width="${Math.max(2, x(to) - x(from))}" height="${rowH - 8}" fill="#d62728" fill-opacity="0.7"><title>${esc(`overlap of r${o.replicas[0]} and r${o.replicas[1]}: ${o.to - o.from} ms of data time`)}</title></rect>`,
      );
      parts.push(
        `<text x="${x(from) + 4}" y="${rowY(s.replicas) + 17}" font-size="11" fill="#fff">overlap r${o.replicas[0]}/r${o.replicas[1]}</text>`,
      );
    }
    for (const g of c.gaps) {
      const from = simOf(c.cluster, g.fromReplica, g.from);
      const to = simOf(c.cluster, g.toReplica, g.to);
      parts.push(
        `<rect x="${x(from)}" y="24" width="${Math.max(2, x(to) - x(from))}" height="${rowY(s.replicas) - 24}" fill="${g.excused ? '#999' : '#d62728'}" fill-opacity="0.18"><title>${esc(`gap ${g.ms} ms: ${g.cause}${g.excused ? ' (excused)' : ''}`)}</title></rect>`,
      );
    }
    return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="system-ui, sans-serif">${parts.join('')}</svg>`;

    function segmentRect(seg: Segment, cluster: number): string {
      const a = simOf(cluster, seg.replica, seg.from);
      const b = simOf(cluster, seg.replica, seg.to) + s.scrapeIntervalMs;
      const y = rowY(seg.replica) + 8;
      return `<rect x="${x(a)}" y="${y}" width="${Math.max(1, x(b) - x(a))}" height="${rowH - 14}" fill="${REPLICA_COLORS[seg.replica % REPLICA_COLORS.length]!}"><title>r${seg.replica} stored, data time ${seg.from} .. ${seg.to}</title></rect>`;
    }
  });

  const legend = Object.entries(FAULT_COLORS)
    .map(([k, color]) => `<span class="lg"><i style="background:${color}"></i>${k}</span>`)
    .join('');
  const summaryRows = r.check.clusters
    .map(
      (c) =>
        `<tr class="${c.violations > 0 ? 'bad' : ''}"><td>${clusterName(c.cluster)}</td><td>${c.leaderChanges}</td><td>${c.largestGap === undefined ? '-' : `${c.largestGap.ms} ms<br><small>${esc(c.largestGap.cause)}</small>`}</td><td>${c.samplesSent}</td><td>${c.samplesAcked}</td><td>${c.samplesStored}</td><td>${c.samplesDeduplicated}</td><td>${c.violations}</td></tr>`,
    )
    .join('');
  const violations =
    r.check.violations.length === 0
      ? '<p class="ok">No violations.</p>'
      : `<ul>${r.check.violations.map((v) => `<li><b>check ${v.check} (${esc(CHECK_NAMES[v.check])})</b>, ${esc(violationScope(v))}: ${esc(v.message)}</li>`).join('')}</ul>`;
  const faultRows = r.faults
    .map((f) => {
      const ev = r.faultEvents
        .filter((e) => e.faultId === f.id)
        .map((e) => `${e.action}@${Math.round(e.atMs)}ms${e.detail === undefined ? '' : ` (${esc(e.detail)})`}`);
      return `<tr><td>#${f.id}</td><td><i class="sw" style="background:${FAULT_COLORS[f.kind]}"></i>${f.kind}</td><td>${f.cluster === undefined ? (f.ingester === undefined ? 'database' : `ingester ${f.ingester}`) : `${clusterName(f.cluster)}/r${f.replica ?? 0}`}</td><td>${f.atMs} ms</td><td>${f.durationMs} ms</td><td>${esc(describeFault(f))}</td><td>${ev.join(', ')}</td></tr>`;
    })
    .join('');
  const clusterSections = r.check.clusters
    .map(
      (c, i) =>
        `<section><h3>${clusterName(c.cluster)} <small>${c.leaderChanges} leader change(s), largest gap ${c.largestGap?.ms ?? 0} ms</small></h3>${svgs[i] ?? ''}</section>`,
    )
    .join('');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>promha simulation, seed ${s.seed}: ${pass ? 'pass' : 'FAIL'}</title>
<style>
body{font-family:system-ui,sans-serif;margin:24px;color:#222;max-width:1260px}
h1{margin:0 0 4px}h3 small{font-weight:normal;color:#666}
.verdict{display:inline-block;padding:2px 10px;border-radius:4px;color:#fff;background:${pass ? '#2e8b57' : '#c0392b'}}
table{border-collapse:collapse;margin:8px 0 16px}td,th{border:1px solid #ddd;padding:4px 8px;text-align:left;font-size:13px;vertical-align:top}
th{background:#f3f3f3}tr.bad td{background:#fdecea}.ok{color:#2e8b57}
.lg{margin-right:14px;font-size:12px;white-space:nowrap}.lg i,.sw{display:inline-block;width:12px;height:8px;margin-right:4px;vertical-align:middle}
.meta{color:#555;font-size:13px}section{margin-top:12px}
</style></head><body>
<h1>promha simulation <span class="verdict">${pass ? 'PASS' : 'FAIL'}</span></h1>
<p class="meta">seed <b>${s.seed}</b> · ${s.clusters} cluster(s) × ${s.replicas} replica(s) · ${s.ingesters} ingester(s) · ${s.durationMs / 1000}s at ${s.scrapeIntervalMs}ms scrape interval · skew ${s.skewMinMs}..${s.skewMaxMs}ms · lease timeout ${s.leaseTimeoutMs}ms, refresh ${s.leaseRefreshMs}ms · HA ${s.highAvailability ? 'on' : 'off'} · failover bound ${r.check.gapBoundMs}ms<br>${esc(r.tier)} · balancer: ${r.balancer.requests} requests, ${r.balancer.cut} cut, ${r.balancer.lostBefore + r.balancer.lostAfter} lost, ${r.balancer.duplicated} duplicated, ${r.balancer.noBackend} with no backend</p>
<h2>Summary</h2>
<table><tr><th>cluster</th><th>leader changes</th><th>largest gap</th><th>sent</th><th>acked (2xx stored)</th><th>stored</th><th>deduplicated (202)</th><th>violations</th></tr>${summaryRows}</table>
<h2>Violations</h2>${violations}
<h2>Timelines</h2>
<p class="meta">Run time on the x axis. Bars: data stored from each replica (placed by removing its skew). Thin marks: faults. ▲ leader change. Shaded: gaps over the failover bound (red: violation, grey: excused). Red on the tier row: data time stored from two replicas (check 1).</p>
<p>${legend}</p>
${clusterSections}
<h2>Fault schedule</h2>
${r.faults.length === 0 ? '<p>No faults.</p>' : `<table><tr><th>id</th><th>kind</th><th>target</th><th>at</th><th>for</th><th>detail</th><th>applied</th></tr>${faultRows}</table>`}
<p class="meta">Reproduce: <code>${esc(reproduceCommand(s))}</code></p>
</body></html>
`;
}

function niceStep(total: number): number {
  const raw = total / 12;
  for (const s of [250, 500, 1000, 2000, 5000, 10_000, 15_000, 30_000, 60_000, 120_000, 300_000, 600_000])
    if (s >= raw) return s;
  return 3_600_000;
}
