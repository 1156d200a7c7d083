/** ct-prepare: raw ClinicalTrials.gov API v2 studies → clean, load-ready records. */
import { dirname } from 'node:path';
import { hideBin } from 'yargs/helpers';
import { tightenHeapGrowth } from '../src/io/heap.js';
import { parser, recordOptions, runTool, withRecordIO, type RecordArgs } from '../src/cli.js';
import { isSpecialFile } from '../src/io/atomic-file.js';
import { UsageError } from '../src/io/errors.js';
import { whole, year } from '../src/validate.js';
import { fmtSeconds } from '../src/io/progress.js';
import { prepareInput, type Dedupe, type PrepareOptions, type PrepareStats } from '../src/prepare.js';
import { CONNECTION_OPTIONS, chooseTarget, connect } from '../src/load/connection.js';
import { skipExistingFilter } from '../src/load/existing.js';
import { tableOption } from '../src/load/schema.js';

const TOOL = 'ct-prepare';

tightenHeapGrowth(); // flat memory over a long input (src/io/heap.ts)

runTool(TOOL, async () => {
  const argv = await recordOptions(
    parser(TOOL, hideBin(process.argv), '$0 [input] [options]\n\nClean and flatten raw ClinicalTrials.gov API v2 studies into one load-ready record per study.\nInput: one study per record, whole API pages ({"studies":[…]}) or JSON arrays of studies.')
      .command('$0 [input]', false),
  )
    .option('start-year', { type: 'number', describe: 'keep studies starting in or after YYYY (drops those without a start date)', requiresArg: true })
    .option('limit', { type: 'number', describe: 'stop after N distinct studies', requiresArg: true })
    .option('dedupe', {
      choices: ['latest', 'first', 'none'] as const,
      default: 'latest' as const,
      describe: 'duplicate nct_ids: keep the latest last_update_posted (output waits for the end of input: a regular file is read twice, first for ids and dates; from a pipe, records wait in a spool file about the size of the input, beside -o/--tee FILE, else in TMPDIR), the first seen (streams), or all',
    })
    .option('raw', { type: 'boolean', default: true, describe: 'include the original study as `raw` (--no-raw to leave it out)' })
    .option('skip-existing', {
      type: 'string',
      describe: 'drop studies already in the table with the same content_hash (=any: any hash)',
    })
    .options(CONNECTION_OPTIONS)
    .example('$0 studies.ndjson > prepared.ndjson', '')
    .example('ct-fetch --condition asthma | $0 --start-year 2018 | ct-embed --provider hash', '')
    .parseAsync();
  const args = argv as unknown as RecordArgs & {
    startYear?: number; limit?: number; dedupe: Dedupe; raw: boolean; skipExisting?: string; databaseUrl?: string; pgliteDir: string; table: string;
  };
  if (args.skipExisting !== undefined && !['', 'hash', 'any'].includes(args.skipExisting)) {
    throw new UsageError(`--skip-existing takes no value or =any, got ${args.skipExisting}`);
  }
  year('start-year', args.startYear);
  whole('limit', args.limit, 0);
  let keep: PrepareOptions['keep'];
  if (args.skipExisting !== undefined) {
    const table = tableOption(args.table);
    const target = chooseTarget({ databaseUrl: args.databaseUrl, pgliteDir: args.pgliteDir, applicationName: TOOL });
    const log = (m: string) => args.quiet || process.stderr.write(`${TOOL}: ${m}\n`);
    keep = skipExistingFilter(() => connect(target, TOOL, { mustExist: true, log }), table, args.skipExisting === 'any' ? 'any' : 'hash', log);
  }
  await withRecordIO(TOOL, argv as never, async ({ input, writer, rejects, progress }) => {
    const stats: PrepareStats = {
      read: 0, studies: 0, out: 0, rejected: 0, duplicates: 0, noStartDate: 0, beforeStartYear: 0, skipped: 0, nulCleaned: 0,
    };
    const { records, bytesRead } = await prepareInput(
      input,
      {
        raw: args.raw,
        startYear: args.startYear,
        limit: args.limit,
        dedupe: args.dedupe,
        spoolDir: spoolDir(args.out, args.tee),
        reject: (item, reason) => rejects.reject(item, reason),
        keep,
      },
      stats,
    );
    for await (const rec of records) {
      await writer.write(rec as never);
      progress.update(stats.studies, input.sizeBytes !== undefined ? bytesRead() : stats.studies);
    }
    const parts = [`${stats.studies} in`, `${stats.out} out`, `${stats.rejected} rejected`, `${stats.duplicates} duplicates dropped`];
    if (args.startYear !== undefined) parts.push(`${stats.beforeStartYear} before ${args.startYear}`, `${stats.noStartDate} without start date`);
    if (keep) parts.push(`${stats.skipped} already in the table`);
    if (stats.nulCleaned) parts.push(`${stats.nulCleaned} with NUL characters cleaned`);
    const secs = progress.seconds;
    parts.push(`${fmtSeconds(secs)} (${Math.round(stats.studies / Math.max(secs, 1e-3))} records/s)`);
    return parts.join(', ');
  });
});

/** The `--dedupe latest` spool goes beside the first output file (same disk, not a RAM-backed /tmp), else in TMPDIR. */
function spoolDir(...targets: Array<string | undefined>): string | undefined {
  const file = targets.find((t) => t && t !== '-' && !isSpecialFile(t));
  return file ? dirname(file) : undefined;
}
