/** ct-search: semantic (or hybrid) search over a table loaded by ct-load. */
import { createInterface } from 'node:readline';
import { hideBin } from 'yargs/helpers';
import { parser, runTool } from '../src/cli.js';
import { UsageError } from '../src/io/errors.js';
import { nonEmpty, phases, statuses, studyType, whole, year } from '../src/validate.js';
import { RecordWriter, writeStdout } from '../src/io/output.js';
import { redactOptions } from '../src/io/redact.js';
import { CONNECTION_OPTIONS, chooseTarget, connect } from '../src/load/connection.js';
import { tableOption } from '../src/load/schema.js';
import { formatTable } from '../src/search/format.js';
import { openSearchTarget, providerForModel, search, tuneSession } from '../src/search/search.js';
import { VERSION } from '../src/cli.js';

const TOOL = 'ct-search';

runTool(TOOL, async () => {
  const argv = await parser(
    TOOL,
    hideBin(process.argv),
    '$0 [query] [options]\n\nFind the studies nearest to a query in a table loaded by ct-load. The query is embedded with the\nprovider and model recorded in the table (embedding_model). Without a query argument, reads one\nquery per line from stdin.',
  )
    .command('$0 [query]', false)
    .positional('query', { type: 'string', describe: 'what to look for (default: one query per line on stdin)' })
    .options(CONNECTION_OPTIONS)
    .option('id-field', { type: 'string', default: 'nct_id', describe: "the table's id column", requiresArg: true })
    .option('limit', { alias: 'n', type: 'number', default: 10, describe: 'hits per query', requiresArg: true })
    .option('status', { type: 'string', array: true, describe: 'only these statuses (repeatable or comma list)', requiresArg: true })
    .option('phase', { type: 'string', array: true, describe: 'only these phases: 1, 2, PHASE3, "early phase 1", NA …', requiresArg: true })
    .option('condition', { type: 'string', describe: 'a condition containing this text (case-insensitive)', requiresArg: true })
    .option('country', { type: 'string', describe: 'a location in this country', requiresArg: true })
    .option('start-year', { type: 'number', describe: 'starting in or after YYYY', requiresArg: true })
    .option('study-type', { type: 'string', describe: 'INTERVENTIONAL, OBSERVATIONAL …', requiresArg: true })
    .option('hybrid', { type: 'boolean', default: false, describe: 'fuse vector and full-text rankings (reciprocal rank fusion)' })
    .option('format', { choices: ['table', 'ndjson'] as const, describe: 'output (default: table on a terminal, else ndjson)' })
    .option('base-url', { type: 'string', describe: 'OpenAI-compatible server for query embeddings (default: OPENAI_BASE_URL)', requiresArg: true })
    .example('$0 "EGFR inhibitor for lung cancer" --status RECRUITING --phase 2', '')
    .example('$0 "pembrolizumab" --hybrid --format ndjson | jq .nct_id', '')
    .parseAsync();
  const a = argv as unknown as {
    query?: string; databaseUrl?: string; pgliteDir: string; table: string; idField: string; limit: number;
    status?: string[]; phase?: string[]; condition?: string; country?: string; startYear?: number; studyType?: string;
    hybrid: boolean; format?: 'table' | 'ndjson'; baseUrl?: string;
  };
  whole('limit', a.limit, 1, 1000);
  year('start-year', a.startYear);
  if (a.query !== undefined && a.query.trim() === '') throw new UsageError('the query is empty (give words to look for, or none to read queries from stdin)');
  const filters = {
    status: statuses('status', a.status), phase: phases('phase', a.phase), condition: a.condition, country: a.country,
    startYear: a.startYear, studyType: studyType('study-type', a.studyType),
  };
  nonEmpty('condition', a.condition);
  nonEmpty('country', a.country);
  const table = tableOption(a.table);
  if (a.query === undefined && process.stdin.isTTY) {
    process.stderr.write(`${TOOL}: reading queries from the terminal, one per line (end with Ctrl-D); or give the query as an argument\n`);
  }
  const format = a.format ?? (process.stdout.isTTY ? 'table' : 'ndjson');
  const db = await connect(chooseTarget({ databaseUrl: a.databaseUrl, pgliteDir: a.pgliteDir, applicationName: TOOL }), TOOL, {
    mustExist: true,
    log: (m) => process.stderr.write(`${TOOL}: ${m}\n`),
  });
  try {
    const target = await openSearchTarget(db, table, a.idField);
    const provider = await providerForModel(target.model, {
      apiKey: process.env.OPENAI_API_KEY,
      baseURL: a.baseUrl ?? process.env.OPENAI_BASE_URL,
    });
    await tuneSession(db, a.limit);
    const writer = format === 'ndjson'
      ? new RecordWriter({ tool: TOOL, version: VERSION, format: 'ndjson', options: redactOptions(argv) })
      : undefined;
    const queries: AsyncIterable<string> = a.query !== undefined
      ? (async function* () { yield a.query!; })()
      : createInterface({ input: process.stdin, crlfDelay: Infinity });
    for await (const raw of queries) {
      const query = raw.trim();
      if (!query) continue;
      const hits = await search(target, provider, query, { limit: a.limit, hybrid: a.hybrid, filters });
      if (writer) {
        for (const h of hits) await writer.write({ query, rank: h.rank, score: h.score, ...h.row });
      } else {
        await writeStdout(formatTable(query, hits, a.idField, process.stdout.columns || 100));
      }
    }
    await writer?.close();
  } finally {
    await db.close();
  }
});
