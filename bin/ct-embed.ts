/** ct-embed: add an embedding vector to every record (OpenAI or compatible servers, or offline feature hashing). */
import { hideBin } from 'yargs/helpers';
import { tightenHeapGrowth, YoungGeneration } from '../src/io/heap.js';
import { parser, recordOptions, runTool, withRecordIO, type RecordArgs } from '../src/cli.js';
import { fmtSeconds } from '../src/io/progress.js';
import { TokenBucket } from '../src/embed/budget.js';
import { MAX_BATCH_INPUTS, MAX_BATCH_TOKENS } from '../src/embed/batching.js';
import { defaultCacheDir, EmbeddingCache } from '../src/embed/cache.js';
import { AdaptiveConcurrency } from '../src/embed/concurrency.js';
import { fmtCost, pricePerMillion } from '../src/embed/cost.js';
import { embedItems, emptyStats } from '../src/embed/embed.js';
import { embeddedOutput } from '../src/embed/output.js';
import { chooseProvider, type ProviderArgs } from '../src/embed/choose.js';
import { modelLabel } from '../src/embed/providers/types.js';
import { summary } from '../src/embed/summary.js';
import { Sender } from '../src/embed/sender.js';
import { idGetter, requireFields, textGetter } from '../src/embed/text.js';
import { Pacer } from '../src/util/retry.js';

const TOOL = 'ct-embed';

interface EmbedArgs extends RecordArgs, ProviderArgs {
  template?: string;
  idField?: string;
  truncate: boolean;
  cache?: string | false;
  dryRun: boolean;
}

runTool(TOOL, async () => {
  const argv = await recordOptions(
    parser(TOOL, hideBin(process.argv), '$0 [input] [options]\n\nAdd an embedding vector of one text per record (a field or a template) to every record,\nin input order. NDJSON or Arrow in and out; a persistent cache means no text is paid for twice.')
      .command('$0 [input]', false),
  )
    .option('provider', { choices: ['openai', 'hash'] as const, describe: 'openai (or a compatible server) | hash (offline, lexical); default: openai when OPENAI_API_KEY or OPENAI_BASE_URL is set' })
    .option('model', { type: 'string', describe: 'embedding model [openai: text-embedding-3-small; hash: fh-v2]', requiresArg: true })
    .option('dimensions', { type: 'number', describe: "vector size [the model's native size; hash: 1536]; required for models ct-embed does not know", requiresArg: true })
    .option('base-url', { type: 'string', describe: 'OpenAI-compatible API (Ollama, vLLM, TEI, Azure …) [env OPENAI_BASE_URL]', requiresArg: true })
    .option('encoding', { choices: ['base64', 'float'] as const, default: 'base64' as const, describe: 'how vectors travel; float for servers that mishandle base64' })
    .option('text-field', { type: 'string', default: 'text', describe: 'field holding the text to embed', requiresArg: true })
    .option('template', { type: 'string', describe: "text to embed built from fields, e.g. 'Title: {title}\\n{brief_summary}'", requiresArg: true })
    .option('id-field', { type: 'string', describe: 'field naming records in messages [nct_id if present, else id]', requiresArg: true })
    .option('embedding-field', { type: 'string', default: 'embedding', describe: 'output field for the vector', requiresArg: true })
    .option('batch-size', { type: 'number', default: 512, describe: `texts per request (at most ${MAX_BATCH_INPUTS}; requests also stay under ${MAX_BATCH_TOKENS.toLocaleString('en')} tokens)`, requiresArg: true })
    .option('concurrency', { type: 'number', default: 4, describe: 'requests in flight at most (halved on 429, then raised again)', requiresArg: true })
    .option('max-rpm', { type: 'number', describe: 'requests per minute budget', requiresArg: true })
    .option('max-tpm', { type: 'number', describe: 'tokens per minute budget (also caps tokens per request)', requiresArg: true })
    .option('max-retries', { type: 'number', default: 8, describe: 'retries of a request (429, 5xx, timeouts, resets) before its records are rejected', requiresArg: true })
    .option('timeout', { type: 'number', default: 60, describe: 'seconds to wait for one answer', requiresArg: true })
    .option('truncate', { type: 'boolean', default: true, describe: 'cut texts over 8191 tokens (--no-truncate: reject those records)' })
    .option('cache', { type: 'string', describe: `cache directory [${redactHome(defaultCacheDir())}]; --no-cache to switch it off`, requiresArg: true })
    .option('dry-run', { type: 'boolean', default: false, describe: 'count texts, tokens, requests and cost; send nothing, write no records' })
    .option('price', { type: 'number', describe: 'USD per million tokens for the estimate [3-small 0.02, 3-large 0.13, ada-002 0.10]', requiresArg: true })
    .example('$0 --provider hash < in.ndjson', 'offline lexical vectors')
    .example('$0 in.ndjson --dry-run', 'tokens, requests, cost')
    .example('$0 --text-field body docs.ndjson', 'any NDJSON dataset')
    .parseAsync();
  const args = argv as unknown as EmbedArgs;
  const env = process.env;
  const provider = chooseProvider(args, env);
  const remote = provider.remote;

  const cacheDir = args.cache === false || !remote || args.cache === '' ? undefined : args.cache ?? defaultCacheDir(env);
  const maxTokens = Math.min(MAX_BATCH_TOKENS, args.maxTpm ?? Infinity);
  const price = remote ? pricePerMillion('openai', provider.model, args.price) : 0;

  // A dry run writes no records: no output file and no checkpoint that could pass for a finished run.
  const ioArgs = args.dryRun ? { ...argv, out: undefined, tee: undefined } : argv;
  if (args.dryRun && (args.out || args.tee) && !args.quiet) process.stderr.write(`${TOOL}: --dry-run writes no records: ${[args.out, args.tee].filter(Boolean).join(', ')} left alone\n`);
  await withRecordIO(TOOL, ioArgs as never, async ({ input, writer, rejects, progress }) => {
    const cache = cacheDir ? new EmbeddingCache(cacheDir, { provider: provider.name, model: provider.model, dims: provider.dims, scope: provider.cacheScope }) : undefined;
    const concurrency = new AdaptiveConcurrency(args.concurrency);
    const sender = args.dryRun
      ? undefined
      : new Sender({
          provider,
          concurrency,
          maxRetries: args.maxRetries,
          rpm: args.maxRpm ? new Pacer(args.maxRpm / 60) : undefined,
          tpm: args.maxTpm ? new TokenBucket(args.maxTpm) : undefined,
          onRetry: (message, waitMs) => {
            if (!args.quiet && waitMs >= 2000) process.stderr.write(`${TOOL}: ${message}; waiting ${fmtSeconds(waitMs / 1000)}\n`);
          },
        });
    const stats = emptyStats();
    // Small while texts go out for vectors, V8's own while every text is cached (src/io/heap.ts).
    const young = sender ? new YoungGeneration(() => ({ read: stats.records, texts: stats.texts })) : undefined;
    const records = embedItems(
      requireFields(input, args),
      {
        provider,
        text: textGetter(args),
        id: idGetter(args.idField),
        embeddingField: args.embeddingField,
        truncate: args.truncate,
        limits: remote
          ? { maxInputs: args.batchSize, maxTokens, maxSpan: 2 * args.batchSize }
          : { maxInputs: args.batchSize, maxTokens: Infinity, maxSpan: 2 * args.batchSize },
        maxInFlight: args.concurrency + 1,
        cache,
        sender,
        reject: (item, reason) => rejects.reject(item, reason),
      },
      stats,
    );
    const sized = input.sizeBytes !== undefined;
    const output = embeddedOutput(args.format, args.embeddingField, modelLabel(provider));
    // Arrow and Parquet output hold a batch of records: a tighter heap keeps it under 250 MB (src/io/heap.ts).
    if (args.format !== 'ndjson') tightenHeapGrowth();
    for await (const e of records) {
      const { rec, json } = output(e);
      await writer.write(rec, json);
      young?.record();
      const sent = sender?.stats.tokensSent ?? 0;
      const cost = remote ? `, ${fmtCost(sent, price)}` : '';
      const eta = sized && input.bytesRead > 0 ? `, ETA ${fmtSeconds((progress.seconds * (input.sizeBytes! - input.bytesRead)) / input.bytesRead)}` : '';
      // The count and the share are both of the input read; records written (in input order) trail behind.
      const written = `${writer.count.toLocaleString('en')} written`;
      progress.update(stats.records, sized ? input.bytesRead : stats.records, remote ? `${written}, ${sent.toLocaleString('en')} tokens${cost}, concurrency ${concurrency.current}${eta}` : `${written}${eta}`);
    }
    await cache?.close();
    const label = modelLabel(provider);
    const facts = {
      embedding_model: label,
      cache: cacheDir ? redactHome(cacheDir) : null,
      stats: { ...stats, ...(sender?.stats ?? {}) },
    };
    writer.setMeta(facts);
    return summary(label, stats, sender, price, progress.seconds, remote, cache?.tornSegments ?? 0);
  }, { progressUnit: 'records read' });
});

function redactHome(path: string): string {
  const home = process.env.HOME;
  return home && path.startsWith(home + '/') ? '~' + path.slice(home.length) : path;
}
