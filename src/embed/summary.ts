/** ct-embed's closing line on stderr: what was embedded, sent, cached, rejected, and what it cost. */
import { fmtSeconds } from '../io/progress.js';
import { fmtCost } from './cost.js';
import type { EmbedStats } from './embed.js';
import type { Sender } from './sender.js';

export function summary(
  label: string,
  s: EmbedStats,
  sender: Sender | undefined,
  price: number | undefined,
  secs: number,
  remote: boolean,
  torn: number,
): string {
  const n = (x: number) => x.toLocaleString('en');
  const parts = [`${n(s.records)} records`];
  if (!sender) {
    parts.push(`${n(s.cached)} cached`, `${n(s.texts)} texts to send (${n(s.tokens)} tokens, ${n(s.batches)} requests)`);
    if (s.duplicates) parts.push(`${n(s.duplicates)} repeated texts sent once`);
    parts.push(`${n(s.truncated)} truncated`, `${n(s.empty)} empty`, `${n(s.rejected)} rejected`);
    const at = price === undefined ? '' : ` at $${price}/1M tokens`;
    return `dry run for ${label}: ${parts.join(', ')}; estimated cost ${fmtCost(s.tokens, price)}${at}`;
  }
  const st = sender.stats;
  parts.push(`${n(s.embedded)} embedded`);
  if (remote) {
    parts.push(`${n(s.cached)} cached`, `${n(st.textsSent)} texts sent (${n(st.tokensSent)} tokens, ${n(st.requests)} requests, ${n(st.retries)} retries)`);
    if (s.duplicates) parts.push(`${n(s.duplicates)} repeated texts sent once`);
    parts.push(`${n(s.truncated)} truncated`);
  }
  parts.push(`${n(s.empty)} empty`, `${n(s.rejected)} rejected`);
  if (remote) parts.push(`estimated cost ${fmtCost(st.tokensSent, price)}`);
  if (torn) parts.push(`${torn} torn cache segment tails ignored`);
  parts.push(`${fmtSeconds(secs)} (${n(Math.round(s.records / Math.max(secs, 1e-3)))} records/s, ${label})`);
  return parts.join(', ');
}
