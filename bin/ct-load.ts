/** ct-load: prepared (optionally embedded) records → a Postgres or PGlite table, by binary COPY and guarded upserts. */
import { tightenHeapGrowth, youngGeneration } from '../src/io/heap.js';
import { hideBin } from 'yargs/helpers';
import { parser, runTool, withRecordIO, type RecordArgs } from '../src/cli.js';
import { memSize, nonEmpty, whole } from '../src/validate.js';
import { fmtSeconds } from '../src/io/progress.js';
import { writeStdout } from '../src/io/output.js';
import { CONNECTION_OPTIONS, chooseTarget, connect } from '../src/load/connection.js';
import { describeIndex } from '../src/load/index.js';
import { newestValue } from '../src/load/newest.js';
import { loadRecords, newLoadStats } from '../src/load/load.js';
import { availableParallelism } from 'node:os';
import { parseWorkerCount } from '../src/io/ndjson-parallel.js';
import { tableOption } from '../src/load/schema.js';

const TOOL = 'ct-load';

tightenHeapGrowth(); // garbage, not live data, made most of the peak RSS (src/io/heap.ts)

runTool(TOOL, async () => {
  const argv = await parser(
    TOOL,
    hideBin(process.argv),
    '$0 [input] [options]\n\nLoad prepared (optionally embedded) records into a Postgres + pgvector table, or into PGlite\nwhen no database is configured. Binary COPY per batch, merged by id: a rerun changes nothing.',
  )
    .command('$0 [input]', false)
    .positional('input', { type: 'string', default: '-', describe: 'input file (NDJSON or Arrow, detected); - = stdin' })
    .options(CONNECTION_OPTIONS)
    .option('create-table', { type: 'boolean', default: false, describe: 'create the table if missing (columns and types from the records)' })
    .option('drop-table', { type: 'boolean', default: false, describe: 'DROP the table first (destructive; implies --create-table)' })
    .option('id-field', { type: 'string', default: 'nct_id', describe: 'the records\' unique id (the primary key)', requiresArg: true })
    .option('embeddings', { type: 'boolean', default: true, describe: 'load vectors (--no-embeddings: ignore them, vector columns untouched)' })
    .option('dimensions', { type: 'number', describe: 'vector size for --create-table (default: from the records)', requiresArg: true })
    .option('batch-size', { type: 'number', default: 5000, describe: 'rows per COPY and transaction', requiresArg: true })
    .option('jobs', { alias: 'j', type: 'number', default: 2, describe: 'batches written at once, each on its own connection (PGlite: 1)', requiresArg: true })
    .option('max-retries', { type: 'number', default: 5, describe: 'retries of a batch after a transient database error', requiresArg: true })
    .option('index', { choices: ['hnsw'] as const, describe: 'after the load, build an HNSW cosine index (and the full-text and model indexes ct-search uses)' })
    .option('maintenance-work-mem', { type: 'string', describe: 'for the index build, e.g. 512MB (default: fits the table)', requiresArg: true })
    .option('version-field', {
      type: 'string',
      describe: 'newer wins by COLUMN (default: last_update_posted, if present)',
      requiresArg: true,
    })
    .option('allow-older', { type: 'boolean', default: false, describe: 'write records older than their row too (switches newer-wins off)' })
    .option('rejects', { type: 'string', describe: 'write bad records to FILE (NDJSON) and go on', requiresArg: true })
    .option('quiet', { alias: 'q', type: 'boolean', default: false, describe: 'no progress and no summary on stderr' })
    .option('newest', { type: 'string', describe: 'load nothing: print the largest value of COLUMN in the table (empty if none) and exit', requiresArg: true })
    .example('ct-prepare studies.ndjson | ct-embed --provider hash | $0 --create-table', '')
    .example('$0 embedded.arrow --database-url "$DATABASE_URL" --index hnsw', '')
    .example('$0 papers.ndjson --table papers --id-field doi --create-table', '')
    .parseAsync();
  const a = argv as unknown as {
    input: string; databaseUrl?: string; pgliteDir: string; table: string; createTable: boolean; dropTable: boolean;
    idField: string; embeddings: boolean; dimensions?: number; batchSize: number; jobs: number; maxRetries: number;
    index?: 'hnsw'; maintenanceWorkMem?: string; rejects?: string; quiet: boolean; newest?: string;
    versionField?: string; allowOlder: boolean;
  };
  whole('batch-size', a.batchSize, 1);
  whole('jobs', a.jobs, 1, 64);
  whole('max-retries', a.maxRetries, 0);
  whole('dimensions', a.dimensions, 1, 16000);
  memSize('maintenance-work-mem', a.maintenanceWorkMem);
  nonEmpty('id-field', a.idField);
  nonEmpty('newest', a.newest);
  nonEmpty('version-field', a.versionField);
  const table = tableOption(a.table);
  const target = chooseTarget({ databaseUrl: a.databaseUrl, pgliteDir: a.pgliteDir, applicationName: TOOL });
  if (a.newest !== undefined) {
    // For incremental refreshes: ct-fetch --updated-since "$(ct-load --newest last_update_posted)"
    const db = await connect(target, TOOL, { mustExist: true, log: (m) => process.stderr.write(`${TOOL}: ${m}\n`) });
    try {
      const v = await newestValue(db, table, a.newest);
      await writeStdout(v === undefined ? '' : `${v}\n`);
    } finally {
      await db.close();
    }
    return;
  }
  const log = (m: string) => a.quiet || process.stderr.write(`${TOOL}: ${m}\n`);
  const ioArgs = { ...argv, format: 'ndjson' } as unknown as RecordArgs & Record<string, unknown>;
  await withRecordIO(
    TOOL,
    ioArgs,
    async ({ input, rejects, progress }) => {
      // Arrow and Parquet keep the young generation small from the launcher on, with more room for the old
      // one; NDJSON parsing on the main thread is faster with V8's young generation (src/io/heap.ts).
      if (input.format === 'ndjson') youngGeneration('v8');
      else tightenHeapGrowth(100);
      log(`loading into ${table.sql} at ${target.label}`);
      const stats = newLoadStats();
      await loadRecords(
        input,
        {
          target, table, idField: a.idField, createTable: a.createTable || a.dropTable, dropTable: a.dropTable,
          noEmbeddings: !a.embeddings, dimensions: a.dimensions, batchSize: a.batchSize, jobs: a.jobs, maxRetries: a.maxRetries,
          index: a.index, maintenanceWorkMem: a.maintenanceWorkMem, versionField: a.versionField, allowOlder: a.allowOlder,
          applicationName: TOOL,
          reject: (item, reason) => rejects.reject(item, reason),
          parseInWorkers: (shape, worthIt) => {
            const workers = parseWorkerCount(process.env, availableParallelism(), worthIt);
            if (workers > 0 && input.parseInWorkers?.({ ...shape, workers }) && process.env.CT_DEBUG) {
              log(`parsing the rest of ${input.name} in ${workers} worker thread${workers === 1 ? '' : 's'}`);
            } else if (workers === 0 && process.env.CT_DEBUG) {
              log(`parsing ${input.name} on the main thread${worthIt ? '' : ' (vectors in the short spelling)'}`);
            }
          },
          log: (m) => {
            progress.stop();
            log(m);
          },
          onBatch: (s) =>
            progress.update(s.read, input.sizeBytes !== undefined ? input.bytesRead : s.read, `${s.batches} batches, ${s.retried} retried`),
        },
        stats,
      );
      const secs = progress.seconds;
      const parts = [
        `${stats.read} in`, `${stats.inserted} inserted`, `${stats.updated} updated`, `${stats.unchanged} unchanged`,
        ...(stats.older ? [`${stats.older} older than the table, kept`] : []),
        `${stats.rejected} rejected`, `${stats.retried} retried`, `${stats.batches} batches`,
      ];
      if (stats.duplicates) parts.push(`${stats.duplicates} repeated ids (the later record loaded)`);
      if (stats.nulCleaned) parts.push(`${stats.nulCleaned} with NUL characters cleaned`);
      parts.push(`${fmtSeconds(secs)} (${Math.round(stats.read / Math.max(secs, 1e-3))} rows/s)`);
      if (stats.index) parts.push(describeIndex(stats.index, fmtSeconds));
      return parts.join(', ');
    },
    // Vectors as Float32Array views into the Arrow batches, JSON objects and long strings as their UTF-8
    // bytes: ct-load only re-encodes the floats and copies the text into its COPY rows as it is.
    { progressUnit: 'rows', input: { float32Vectors: true, rawJson: true, utf8Bytes: true } },
  );
});
