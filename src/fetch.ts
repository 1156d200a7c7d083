/**
 * ct-fetch's logic: the command-line filters as API parameters, and the paging loop that writes every study
 * once and records after each complete page where the listing stands (so an interrupted run can resume).
 */
import { RuntimeError } from './io/errors.js';
import { RawJson } from './io/rawjson.js';
import { StudyIdSet } from './util/study-ids.js';
import { BadRequest, type StudiesClient, type StudiesPage, type Study } from './fetch/client.js';

/** The listing parameters every page repeats (everything except pageToken, pageSize and countTotal). */
export type ListParams = Record<string, string>;

export interface Filters {
  query?: string;
  condition?: string;
  intervention?: string;
  status?: string[];
  startYear?: number;
  updatedSince?: string;
  advanced?: string;
  fields?: string[];
}

/** Map the filters to the API's own parameters, so that the server does the filtering. */
export function listParams(f: Filters): ListParams {
  const p: ListParams = {};
  if (f.query) p['query.term'] = f.query;
  if (f.condition) p['query.cond'] = f.condition;
  if (f.intervention) p['query.intr'] = f.intervention;
  if (f.status?.length) p['filter.overallStatus'] = f.status.join(',');
  const advanced: string[] = [];
  if (f.startYear !== undefined) advanced.push(`AREA[StartDate]RANGE[${f.startYear}-01-01,MAX]`);
  if (f.updatedSince) advanced.push(`AREA[LastUpdatePostDate]RANGE[${f.updatedSince},MAX]`);
  // Parentheses keep a user's OR from swallowing the other conditions.
  if (f.advanced) advanced.push(advanced.length ? `(${f.advanced})` : f.advanced);
  if (advanced.length) p['filter.advanced'] = advanced.join(' AND ');
  if (f.fields?.length) p.fields = f.fields.join(',');
  return p;
}

/** Same listing? (Key order does not matter.) */
export function sameParams(a: ListParams, b: ListParams): boolean {
  const norm = (p: ListParams) => JSON.stringify(Object.entries(p).sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0)));
  return norm(a) === norm(b);
}

/** The paging state recorded in the checkpoint metadata (`fetch` key) after every complete page. */
export interface PagingState {
  params: ListParams;
  /** Pages received so far (over all runs of this listing). */
  pages: number;
  /** Studies written so far, all of them through the last complete page: a resume trusts exactly these. */
  studies: number;
  /** Token of the next page; null when the listing is finished (or not started: pages = 0). */
  next_page_token: string | null;
  last_nct_id: string | null;
  /** The server's totalCount for the listing, when known. */
  total: number | null;
}

/** Where a listing continues: fresh, or after studies already saved (see src/fetch/resume.ts). */
export interface StartPoint {
  state: PagingState;
  /** nct_ids already saved: never written again (also the fallback when a saved token is rejected). */
  seen: StudyIdSet;
  /** Saved studies without an nct_id (a --fields list without NCTId): skipped by position on a restart. */
  anonymous: number;
}

export function freshStart(params: ListParams): StartPoint {
  return {
    state: { params, pages: 0, studies: 0, next_page_token: null, last_nct_id: null, total: null },
    seen: new StudyIdSet(),
    anonymous: 0,
  };
}

export interface FetchSink {
  /** `json`: the study's text as the server sent it, when it can be written as one NDJSON line as is. */
  write(study: Study, json?: string): Promise<void>;
  /** Called after each complete page, once its studies are written; must make them durable before recording. */
  checkpoint(state: PagingState): Promise<void>;
}

export interface FetchOptions {
  client: StudiesClient;
  pageSize: number;
  /** Stop after this many studies in total (saved ones included). */
  limit?: number;
  start: StartPoint;
  sink: FetchSink;
  onPage?: (state: PagingState) => void;
  /** The total became known (first page). */
  onTotal?: (total: number) => void;
  log?: (message: string) => void;
}

export interface FetchStats {
  /** Pages received in this run. */
  pages: number;
  /** Studies written in this run (after the saved ones). */
  written: number;
  /** Studies the server sent that were already written (skipped): saved ones after a restart, or repeats. */
  skipped: number;
  /** Times a rejected page token sent the listing back to the first page. */
  restarts: number;
  state: PagingState;
}

/** Rejected tokens in a row before giving up (a server that rejects every token would loop forever). */
const MAX_RESTARTS = 3;

export function nctIdOf(study: Study): string | undefined {
  const id = (study.protocolSection as { identificationModule?: { nctId?: unknown } } | undefined)?.identificationModule?.nctId;
  return typeof id === 'string' ? id : undefined;
}

/**
 * Page through the listing from `start`, writing each study not written before, until the last page or the
 * limit. `countTotal=true` goes on a first page only; a page asks for no more studies than the limit leaves.
 */
export async function fetchStudies(o: FetchOptions): Promise<FetchStats> {
  const state: PagingState = { ...o.start.state };
  const { seen } = o.start;
  let anonymousSaved = o.start.anonymous;
  let anonymousToSkip = 0;
  const stats: FetchStats = { pages: 0, written: 0, skipped: 0, restarts: 0, state };
  let token = state.next_page_token;
  // A listing whose last page was recorded has nothing left (the run died before committing).
  if (state.pages > 0 && token === null) return stats;
  if (state.total !== null) o.onTotal?.(state.total);

  while (o.limit === undefined || state.studies < o.limit) {
    const size = o.limit === undefined ? o.pageSize : Math.min(o.pageSize, o.limit - state.studies);
    const query: Record<string, string> = { ...state.params, pageSize: String(size) };
    if (token) query.pageToken = token;
    else query.countTotal = 'true';
    let page;
    try {
      page = await o.client.list(query, state.pages + 1);
    } catch (err) {
      // A 400 for a first page is about the options (exit 2); for a later page it is the token: expired, or
      // issued before a server restart. Go back to the first page and skip what is already written.
      if (!(err instanceof BadRequest) || !token) throw err;
      if (++stats.restarts > MAX_RESTARTS) throw new RuntimeError(`page ${state.pages + 1}: the server keeps rejecting page tokens: ${err.message}`);
      o.log?.(`page token rejected (${err.message}); starting again from the first page, skipping the ${state.studies} studies already written`);
      token = null;
      anonymousToSkip = anonymousSaved;
      continue;
    }
    if (!token && typeof page.totalCount === 'number') {
      state.total = page.totalCount;
      o.onTotal?.(page.totalCount);
    }
    // The page's studies are written by a function of their own: a suspended async function keeps every value
    // its registers last held, so a loop written here would keep the last study, and through it the page's
    // text (≈ 30 MB for 1,000 studies), alive during the next request: two pages at once.
    const writePage = async (studies: StudiesPage['studies']) => {
      for (let k = 0; k < studies.length; k++) {
        if (o.limit !== undefined && state.studies >= o.limit) break;
        // A study cut from the page's text is parsed here, one at a time (not cached: the page holds only texts).
        const item = studies[k];
        let json: string | undefined;
        let study: Study;
        if (item instanceof RawJson) {
          try {
            study = JSON.parse(item.json) as Study;
          } catch (err) {
            throw new RuntimeError(`page ${state.pages + 1}: study ${k + 1} is not valid JSON: ${(err as Error).message}`);
          }
          if (!/[\r\n]/.test(item.json)) json = item.json;
        } else study = item;
        const id = nctIdOf(study);
        if (id !== undefined) {
          if (seen.has(id)) {
            stats.skipped++;
            continue;
          }
          seen.add(id);
          state.last_nct_id = id;
        } else if (anonymousToSkip > 0) {
          anonymousToSkip--;
          stats.skipped++;
          continue;
        } else anonymousSaved++;
        await o.sink.write(study, json);
        state.studies++;
        stats.written++;
      }
    };
    await writePage(page.studies);
    const next = page.nextPageToken ?? null;
    if (next !== null && next === token) throw new RuntimeError(`page ${state.pages + 1}: the server sent the same page token again`);
    token = next;
    page = undefined;
    state.pages++;
    stats.pages++;
    state.next_page_token = token;
    await o.sink.checkpoint({ ...state });
    o.onPage?.(state);
    if (token === null) break;
  }
  return stats;
}
