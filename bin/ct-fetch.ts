/** ct-fetch: page through the ClinicalTrials.gov API v2 (`GET /studies`) and write the raw studies. */
import { tightenHeapGrowth } from '../src/io/heap.js';
import { existsSync } from 'node:fs';
import { hideBin } from 'yargs/helpers';
import { VERSION, parser, recordOptions, runTool, withRecordIO, type RecordArgs } from '../src/cli.js';
import { UsageError } from '../src/io/errors.js';
import { isoDate, listValues, nonEmpty, positive, statuses, whole, year } from '../src/validate.js';
import { interruption } from '../src/io/signals.js';
import { fmtSeconds } from '../src/io/progress.js';
import { listParams } from '../src/fetch.js';
import { StudiesClient } from '../src/fetch/client.js';
import { checkHttpUrl } from '../src/util/net.js';
import { dropResumeSource } from '../src/fetch/resume.js';
import { findResumeOption, runFetch } from '../src/fetch/run.js';

const TOOL = 'ct-fetch';
const DEFAULT_BASE_URL = 'https://clinicaltrials.gov/api/v2';

interface FetchArgs extends RecordArgs {
  baseUrl?: string;
  query?: string;
  condition?: string;
  intervention?: string;
  status?: string[];
  startYear?: number;
  filterByStartDate: boolean;
  updatedSince?: string;
  advanced?: string;
  fields?: string[];
  numRecords?: number;
  pageSize: number;
  rate: number;
  maxRetries: number;
  timeout: number;
  retryDelay: number;
  resume: boolean;
}

tightenHeapGrowth(); // garbage, not live data, made most of the peak RSS (src/io/heap.ts)

runTool(TOOL, async () => {
  const argv = await recordOptions(
    parser(
      TOOL,
      hideBin(process.argv),
      '$0 [options]\n\nPage through the ClinicalTrials.gov API v2 (GET /studies) and write each study, unmodified,\n' +
        'as one record. Filters are sent to the API, so the server does the filtering. With --tee FILE,\n' +
        'an interrupted run continues where it stopped when run again with --resume.',
    ),
  )
    .hide('input')
    .hide('rejects')
    .option('base-url', { type: 'string', describe: `API base URL; default $CT_API_URL, else ${DEFAULT_BASE_URL.replace("https://", "")}`, requiresArg: true })
    .option('query', { type: 'string', describe: 'search terms anywhere in the study (query.term)', requiresArg: true })
    .option('condition', { type: 'string', describe: 'condition or disease (query.cond)', requiresArg: true })
    .option('intervention', { type: 'string', describe: 'intervention or treatment (query.intr)', requiresArg: true })
    .option('status', { type: 'string', array: true, describe: 'overall status, e.g. RECRUITING; repeatable or comma list (filter.overallStatus)', requiresArg: true })
    .option('start-year', { type: 'number', describe: 'studies starting in or after the year YYYY (AREA[StartDate])', requiresArg: true })
    .option('filter-by-start-date', { type: 'boolean', default: true, describe: 'apply --start-year (--no-filter-by-start-date cancels it)' })
    .option('updated-since', { type: 'string', describe: 'studies updated on or after YYYY-MM-DD (AREA[LastUpdatePostDate])', requiresArg: true })
    .option('advanced', { type: 'string', describe: 'Essie expression for filter.advanced, ANDed with the filters above', requiresArg: true })
    .option('fields', { type: 'string', array: true, describe: 'only these fields; repeatable or comma list (passed to the API as is)', requiresArg: true })
    .option('num-records', { alias: 'limit', type: 'number', describe: 'stop after N studies (requests no more than needed)', requiresArg: true })
    .option('page-size', { type: 'number', default: 1000, describe: 'studies per request, 1–1000', requiresArg: true })
    .option('rate', { type: 'number', default: 1, describe: 'at most this many requests per second, retries included', requiresArg: true })
    .option('max-retries', { type: 'number', default: 8, describe: 'retries per page (403, 429, 5xx, timeout, reset, HTML or cut-off JSON)', requiresArg: true })
    .option('retry-delay', { type: 'number', default: 1, describe: 'seconds: first retry waits up to this, doubling, ≤ 60 s; Retry-After wins', requiresArg: true })
    .option('timeout', { type: 'number', default: 60, describe: 'seconds allowed for one request, body included', requiresArg: true })
    .option('resume', { type: 'boolean', default: false, describe: 'continue the interrupted run whose checkpoint is --tee FILE' })
    .example('$0 --condition asthma --start-year 2018 --tee asthma.ndjson', '')
    .example('$0 --condition asthma --start-year 2018 --tee asthma.ndjson --resume', '')
    .example('$0 --updated-since 2025-06-01 | ct-prepare | ct-embed | ct-load', '')
    .parseAsync();
  const args = argv as unknown as FetchArgs;
  validate(args);
  const base = baseUrl(args);
  const params = listParams({
    query: args.query,
    condition: args.condition,
    intervention: args.intervention,
    status: statuses('status', args.status),
    startYear: args.filterByStartDate ? args.startYear : undefined,
    updatedSince: args.updatedSince,
    advanced: args.advanced,
    fields: listValues(args.fields),
  });
  const note = (msg: string) => {
    if (!args.quiet) process.stderr.write(`${TOOL}: ${msg}\n`);
  };

  const resume = args.resume ? findResumeOption(args.tee, args.format, params, TOOL, note) : undefined;

  const client = new StudiesClient({
    baseUrl: base,
    rate: args.rate,
    timeoutMs: args.timeout * 1000,
    maxRetries: args.maxRetries,
    retryDelayMs: args.retryDelay * 1000,
    userAgent: `ct-pipeline/${VERSION} (ct-fetch)`,
    signal: interruption.signal,
    onRetry: ({ page, attempt, reason, delayMs }) => {
      if (delayMs >= 10_000) note(`page ${page}: ${reason}; retry ${attempt} of ${args.maxRetries} in ${fmtSeconds(delayMs / 1000)}`);
    },
  });

  await withRecordIO(
    TOOL,
    argv as never,
    ({ writer, progress }) => runFetch({ client, params, resume, tee: args.tee, pageSize: args.pageSize, limit: args.numRecords, writer, progress, note }),
    { progressUnit: 'studies', noInput: true },
  );
  if (resume) dropResumeSource(resume);
});

const count = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

/** --base-url, else CT_API_URL, else the public API; a malformed URL is a usage error naming its source. */
function baseUrl(a: FetchArgs): string {
  if (a.baseUrl !== undefined) return checkHttpUrl(a.baseUrl, '--base-url');
  if (process.env.CT_API_URL) return checkHttpUrl(process.env.CT_API_URL, 'CT_API_URL');
  return DEFAULT_BASE_URL;
}

function validate(a: FetchArgs): void {
  whole('page-size', a.pageSize, 1, 1000);
  whole('num-records', a.numRecords, 0);
  whole('max-retries', a.maxRetries, 0);
  year('start-year', a.startYear);
  positive('rate', a.rate, 'a number of requests per second');
  positive('timeout', a.timeout, 'a number of seconds');
  positive('retry-delay', a.retryDelay, 'a number of seconds', true);
  isoDate('updated-since', a.updatedSince);
  for (const flag of ['query', 'condition', 'intervention', 'advanced'] as const) nonEmpty(flag, a[flag]);
  if (a.fields !== undefined && listValues(a.fields)!.length === 0) throw new UsageError('--fields needs a value: field names, e.g. NCTId,BriefTitle');
}
