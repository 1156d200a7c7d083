/**
 * One ct-fetch run: continue the interrupted run of `--tee FILE --resume` (or start fresh), page through the
 * listing into the record writer with a checkpoint after every page, and say what happened.
 */
import { existsSync } from 'node:fs';
import { UsageError } from '../io/errors.js';
import type { RecordWriter } from '../io/output.js';
import { fmtSeconds, type Progress } from '../io/progress.js';
import { fetchStudies, freshStart, type ListParams, type PagingState } from '../fetch.js';
import type { StudiesClient } from './client.js';
import { findResume, replaySaved, type ResumeSource } from './resume.js';

/** `--resume`: the checkpoint in `--tee FILE` to continue, or undefined (noted) when there is none. */
export function findResumeOption(tee: string | undefined, format: string, params: ListParams, tool: string, note: (m: string) => void): ResumeSource | undefined {
  if (!tee) throw new UsageError('--resume needs --tee FILE: the checkpoint to resume');
  if (format === 'parquet') {
    throw new UsageError('--resume needs an NDJSON or Arrow checkpoint: a Parquet file cut short has no footer and cannot be read');
  }
  const resume = findResume(tee, params, tool);
  // A fresh run (no checkpoint at all) says nothing; a checkpoint that never completed a page is worth a word.
  if (!resume && existsSync(`${tee}.partial`)) note(`nothing to resume in ${tee}.partial (no page completed); starting from the first page`);
  return resume;
}

export interface RunFetchOptions {
  client: StudiesClient;
  params: ListParams;
  resume?: ResumeSource;
  tee?: string;
  pageSize: number;
  limit?: number;
  writer: RecordWriter;
  progress: Progress;
  note: (message: string) => void;
}

const count = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

/** Fetch (after replaying what the interrupted run saved) and return the summary line. */
export async function runFetch(o: RunFetchOptions): Promise<string> {
  const { client, writer, progress } = o;
  const sink = {
    write: (study: Record<string, unknown>, json?: string) => writer.write(study, json),
    async checkpoint(state: PagingState) {
      await writer.flush(); // the page is in the files before the state says so
      writer.setMeta({ fetch: state });
    },
  };
  let start = freshStart(o.params);
  if (o.resume) {
    start = await replaySaved(o.resume, sink.write);
    await sink.checkpoint(start.state);
    o.note(`resuming after page ${start.state.pages}: ${start.state.studies} studies already saved in ${o.tee}`);
  }
  const saved = start.state.studies;
  let total: number | undefined;
  const stats = await fetchStudies({
    client,
    pageSize: o.pageSize,
    limit: o.limit,
    start,
    sink,
    log: o.note,
    onTotal(t) {
      total = o.limit === undefined ? t : Math.min(t, o.limit);
      progress.setTotal(total);
    },
    onPage(state) {
      const secs = progress.seconds;
      const rate = (state.studies - saved) / Math.max(secs, 1e-3);
      const eta = total !== undefined && rate > 0 ? `, ETA ${fmtSeconds(Math.max(0, total - state.studies) / rate)}` : '';
      progress.update(state.studies, state.studies, `page ${state.pages}, ${count(client.retries, 'retry', 'retries')}${eta}`);
    },
  });
  const traffic = `${count(client.requests, 'request')}, ${count(client.retries, 'retry', 'retries')}`;
  const parts = [`${count(stats.state.studies, 'study', 'studies')} in ${count(stats.state.pages, 'page')}`];
  if (saved) parts.push(`${saved} of them from the interrupted run (this run: ${traffic})`);
  else parts[0] += ` (${traffic})`;
  if (stats.restarts) parts.push(`page token rejected ${stats.restarts}×, listing restarted`);
  if (stats.skipped) parts.push(`${stats.skipped} already written, skipped`);
  parts.push(fmtSeconds(progress.seconds));
  return parts.join(', ');
}
