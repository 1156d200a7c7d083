/** ct-embed: add an embedding vector to every record (OpenAI or compatible servers, or offline feature hashing). */
import { hideBin } from 'yargs/helpers';
import { parser, recordOptions, runTool, withRecordIO, type RecordArgs } from '../src/cli.js';
import { UsageError } from '../src/io/errors.js';
import { fmtSeconds } from '../src/io/progress.js';
import { TokenBucket } from '../src/embed/budget.js';
import { MAX_BATCH_INPUTS, MAX_BATCH_TOKENS } from '../src/embed/batching.js';
import { defaultCacheDir, EmbeddingCache } from '../src/embed/cache.js';
import { AdaptiveConcurrency } from '../src/embed/concurrency.js';
import { fmtCost, pricePerMillion } from '../src/embed/cost.js';
import { embedStream, emptyStats } from '../src/embed/embed.js';
import { HASH_MODEL, hashProvider } from '../src/embed/providers/hash.js';
import { OPENAI_MODELS, openaiProvider } from '../src/embed/providers/openai.js';
import { modelLabel, type Provider } from '../src/embed/providers/types.js';
import { Sender } from '../src/embed/sender.js';
import { idGetter, textGetter } from '../src/embed/text.js';
import { checkHttpUrl } from '../src/util/net.js';
import { Pacer } from '../src/util/retry.js';

const TOOL = 'ct-embed';

interface EmbedArgs extends RecordArgs {
  provider?: 'openai' | 'hash';
  model?: string;
  dimensions?: number;
  baseUrl?: string;
  encoding: 'float' | 'base64';
  textField: string;
  template?: string;
  idField?: string;
  embeddingField: string;
  batchSize: number;
  concurrency: number;
  maxRpm?: number;
  maxTpm?: number;
  maxRetries: number;
  timeout: number;
  truncate: boolean;
  cache?: string | false;
  dryRun: boolean;
  price?: number;
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
  // Repeated options arrive as arrays (shared parser setting): the last one wins, as in most tools.
  for (const [k, v] of Object.entries(args)) if (Array.isArray(v) && k !== '_') (args as unknown as Record<string, unknown>)[k] = v.at(-1);
  const env = process.env;
  const provider = chooseProvider(args, env);
  const remote = provider.remote;

  const cacheDir = args.cache === false || !remote || args.cache === '' ? undefined : args.cache ?? defaultCacheDir(env);
  const maxTokens = Math.min(MAX_BATCH_TOKENS, args.maxTpm ?? Infinity);
  const price = remote ? pricePerMillion('openai', provider.model, args.price) : 0;

  await withRecordIO(TOOL, argv as never, async ({ input, writer, rejects, progress }) => {
    const cache = cacheDir ? new EmbeddingCache(cacheDir, { provider: provider.name, model: provider.model, dims: provider.dims }) : undefined;
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
    const records = embedStream(
      input,
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
    for await (const rec of records) {
      await writer.write(rec);
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

function chooseProvider(args: EmbedArgs, env: NodeJS.ProcessEnv): Provider {
  const baseURL = args.baseUrl ?? (env.OPENAI_BASE_URL || undefined);
  const apiKey = env.OPENAI_API_KEY || undefined;
  const name = args.provider ?? (apiKey || baseURL ? 'openai' : undefined);
  if (!name) {
    throw new UsageError('no embedding provider: use --provider hash for offline lexical vectors, or set OPENAI_API_KEY (or OPENAI_BASE_URL for a compatible server) to use OpenAI');
  }
  positive('batch-size', args.batchSize, MAX_BATCH_INPUTS);
  positive('concurrency', args.concurrency, 256);
  if (!(Number.isInteger(args.maxRetries) && args.maxRetries >= 0)) throw new UsageError(`--max-retries must be a whole number ≥ 0, got ${args.maxRetries}`);
  if (!(args.timeout > 0)) throw new UsageError(`--timeout must be a number of seconds > 0, got ${args.timeout}`);
  for (const [flag, v] of [['max-rpm', args.maxRpm], ['max-tpm', args.maxTpm], ['price', args.price]] as const) {
    if (v !== undefined && !(Number.isFinite(v) && v >= 0 && (flag === 'price' || v > 0))) throw new UsageError(`--${flag} must be a positive number, got ${v}`);
  }
  if (args.embeddingField === '' || args.embeddingField === 'embedding_model') throw new UsageError(`--embedding-field cannot be '${args.embeddingField}'`);
  if (args.dimensions !== undefined) positive('dimensions', args.dimensions, 65_536);

  if (name === 'hash') {
    if (args.model !== undefined && args.model !== HASH_MODEL) throw new UsageError(`--provider hash has one model, ${HASH_MODEL}; got --model ${args.model}`);
    if (args.baseUrl !== undefined) throw new UsageError('--base-url is for --provider openai');
    return hashProvider(args.dimensions ?? 1536);
  }
  const model = args.model ?? 'text-embedding-3-small';
  const known = OPENAI_MODELS[model];
  if (!known && args.dimensions === undefined) {
    throw new UsageError(`unknown model ${model}: give --dimensions N, the size of the vectors it returns`);
  }
  if (known && args.dimensions !== undefined && (args.dimensions > known.native || (!known.shortens && args.dimensions !== known.native))) {
    throw new UsageError(`--dimensions ${args.dimensions}: ${model} gives ${known.shortens ? `at most ${known.native}` : `exactly ${known.native}`}`);
  }
  if (!apiKey && !baseURL) throw new UsageError('--provider openai needs OPENAI_API_KEY (or OPENAI_BASE_URL / --base-url for a compatible server)');
  if (baseURL !== undefined) checkHttpUrl(baseURL, args.baseUrl !== undefined ? '--base-url' : 'OPENAI_BASE_URL');
  const dims = args.dimensions ?? known!.native;
  return openaiProvider({
    model,
    dims,
    // Ask for shortened vectors only from models that shorten; other servers check the size we expect.
    sendDimensions: known?.shortens === true && args.dimensions !== undefined,
    encoding: args.encoding,
    // Local compatible servers need no key, but the SDK insists on one.
    apiKey: apiKey ?? 'no-key',
    baseURL,
    timeoutMs: args.timeout * 1000,
  });
}

function positive(flag: string, v: number, max: number): void {
  if (!(Number.isInteger(v) && v >= 1 && v <= max)) throw new UsageError(`--${flag} must be a whole number from 1 to ${max}, got ${v}`);
}

function redactHome(path: string): string {
  const home = process.env.HOME;
  return home && path.startsWith(home + '/') ? '~' + path.slice(home.length) : path;
}

function summary(
  label: string,
  s: ReturnType<typeof emptyStats>,
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
