/**
 * `ct-fetch --tee FILE --resume`: pick up the checkpoint an interrupted run left (FILE.partial and its
 * FILE.partial.meta.json with the paging state), and feed the studies it saved into the new run.
 *
 * The new run's RecordWriter truncates FILE.partial when it opens, so the old one is first moved aside to
 * FILE.resume-src (with its meta as FILE.resume-src.meta.json), read back from there, and removed once the
 * new run has committed FILE. If a resumed run dies too, the next resume takes whichever of the two holds a
 * paging state, preferring the newer FILE.partial (it holds everything FILE.resume-src did, and more).
 */
import { existsSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { lockForWriting } from '../io/atomic-file.js';
import { RuntimeError, UsageError } from '../io/errors.js';
import { openInput } from '../io/input.js';
import { StudyIdSet } from '../util/study-ids.js';
import type { Study } from './client.js';
import { nctIdOf, sameParams, type ListParams, type PagingState, type StartPoint } from '../fetch.js';

export interface ResumeSource {
  /** The saved studies (moved aside) and their metadata. */
  path: string;
  metaPath: string;
  state: PagingState;
}

const sourceName = (tee: string) => `${tee}.resume-src`;
const metaOf = (path: string) => `${path}.meta.json`;

/** The paging state in a checkpoint's metadata, if it is a ct-fetch checkpoint that got past its first page. */
function readState(metaPath: string, tool: string): PagingState | undefined {
  if (!existsSync(metaPath)) return undefined;
  let meta: { tool?: unknown; fetch?: PagingState };
  try {
    meta = JSON.parse(readFileSync(metaPath, 'utf8')) as typeof meta;
  } catch (err) {
    throw new RuntimeError(`${metaPath}: unreadable checkpoint metadata: ${(err as Error).message}`);
  }
  if (meta.tool !== tool) throw new UsageError(`--resume: ${metaPath} was written by ${String(meta.tool)}, not ${tool}`);
  const s = meta.fetch;
  if (!s || typeof s.studies !== 'number' || typeof s.params !== 'object') return undefined;
  return s;
}

/**
 * Find the checkpoint to resume from and move it out of the new run's way. Undefined when there is nothing
 * to resume (no partial, or one that never completed a page). Refuses (UsageError) other filters.
 */
export function findResume(tee: string, params: ListParams, tool: string): ResumeSource | undefined {
  // The checkpoint's write lock first (taken again, re-entrantly, by the run's own AtomicFile): a second run
  // on the same checkpoint must not move the partial away from under the first.
  lockForWriting(tee);
  const partial = `${tee}.partial`;
  const src = sourceName(tee);
  let state = existsSync(partial) ? readState(metaOf(partial), tool) : undefined;
  if (state) {
    checkParams(partial, state.params, params);
    renameSync(partial, src);
    renameSync(metaOf(partial), metaOf(src));
    return { path: src, metaPath: metaOf(src), state };
  }
  state = existsSync(src) ? readState(metaOf(src), tool) : undefined;
  if (!state) return undefined;
  checkParams(src, state.params, params);
  return { path: src, metaPath: metaOf(src), state };
}

function checkParams(path: string, saved: ListParams, now: ListParams): void {
  if (sameParams(saved, now)) return;
  throw new UsageError(
    `--resume: ${path} was fetched with other filters (${JSON.stringify(saved)}, now ${JSON.stringify(now)}); ` +
      'use the same filters, or start over without --resume',
  );
}

/**
 * Write the studies the checkpoint vouches for (the first `state.studies`; a torn tail after them is
 * ignored) through `write`, and return where the listing continues.
 */
export async function replaySaved(src: ResumeSource, write: (s: Study) => Promise<void>): Promise<StartPoint> {
  const want = src.state.studies;
  const seen = new StudyIdSet(); // ≈ 8 bytes an id: the registry's 581,000 in ≈ 5 MB, not 60–90 MB
  let anonymous = 0;
  let n = 0;
  if (want > 0) {
    const input = await openInput(src.path);
    for await (const item of input) {
      if (item.error !== undefined || typeof item.value !== 'object' || item.value === null) {
        throw new RuntimeError(`${item.where}: damaged checkpoint: ${item.error ?? 'not a study object'}`);
      }
      const study = item.value as Study;
      const id = nctIdOf(study);
      if (id === undefined) anonymous++;
      else seen.add(id);
      await write(study);
      if (++n === want) break;
    }
  }
  if (n < want) throw new RuntimeError(`${src.path}: holds ${n} studies, but its metadata says ${want}; start over without --resume`);
  return { state: { ...src.state }, seen, anonymous };
}

/** The resumed run committed: the moved-aside checkpoint is no longer needed. */
export function dropResumeSource(src: ResumeSource): void {
  rmSync(src.path, { force: true });
  rmSync(src.metaPath, { force: true });
}
