/** The terminal view of ct-search: rank, score, id, status, phases and the title cut to the width. */
import type { Hit } from './search.js';

const cell = (v: unknown): string => (v == null ? '' : Array.isArray(v) ? v.join(',') : String(v));

export function formatTable(query: string, hits: Hit[], idField: string, width: number): string {
  const rows = hits.map((h) => [String(h.rank), h.score.toFixed(3), cell(h.row[idField]), cell(h.row.status), cell(h.row.phases), cell(h.row.title ?? h.row.text)]);
  const head = ['#', 'score', idField, 'status', 'phases', 'title'];
  const widths = head.slice(0, 5).map((hd, i) => Math.max(hd.length, ...rows.map((r) => r[i].length)));
  const fixed = widths.reduce((s, w) => s + w + 2, 0);
  const titleWidth = Math.max(10, width - fixed);
  const line = (r: string[]) =>
    [...r.slice(0, 5).map((c, i) => (i < 2 ? c.padStart(widths[i]) : c.padEnd(widths[i]))), cut(r[5], titleWidth)].join('  ').trimEnd();
  const out = [`query: ${query}`, line(head), ...rows.map(line)];
  if (hits.length === 0) out.push('(no hits)');
  return out.join('\n') + '\n\n';
}

function cut(s: string, w: number): string {
  const t = s.replace(/\s+/g, ' ');
  return t.length <= w ? t : t.slice(0, w - 1) + '…';
}
