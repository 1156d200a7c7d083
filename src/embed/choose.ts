/**
 * ct-embed's provider from its options and the environment: `--provider`, else openai when OPENAI_API_KEY or
 * OPENAI_BASE_URL is set; the model, its vector size and the server, all checked before anything is read.
 */
import { UsageError } from '../io/errors.js';
import { checkHttpUrl } from '../util/net.js';
import { nonEmpty, positive, whole } from '../validate.js';
import { MAX_BATCH_INPUTS } from './batching.js';
import { HASH_MODEL, hashProvider } from './providers/hash.js';
import { OPENAI_MODELS, openaiProvider } from './providers/openai.js';
import type { Provider } from './providers/types.js';

/** The options the choice reads (and checks). */
export interface ProviderArgs {
  provider?: 'openai' | 'hash';
  model?: string;
  dimensions?: number;
  baseUrl?: string;
  encoding: 'float' | 'base64';
  textField: string;
  embeddingField: string;
  batchSize: number;
  concurrency: number;
  maxRpm?: number;
  maxTpm?: number;
  maxRetries: number;
  timeout: number;
  price?: number;
}

export function chooseProvider(args: ProviderArgs, env: NodeJS.ProcessEnv): Provider {
  const baseURL = args.baseUrl ?? (env.OPENAI_BASE_URL || undefined);
  const apiKey = env.OPENAI_API_KEY || undefined;
  const name = args.provider ?? (apiKey || baseURL ? 'openai' : undefined);
  if (!name) {
    throw new UsageError('no embedding provider: use --provider hash for offline lexical vectors, or set OPENAI_API_KEY (or OPENAI_BASE_URL for a compatible server) to use OpenAI');
  }
  whole('batch-size', args.batchSize, 1, MAX_BATCH_INPUTS);
  whole('concurrency', args.concurrency, 1, 256);
  whole('max-retries', args.maxRetries, 0);
  positive('timeout', args.timeout, 'a number of seconds');
  positive('max-rpm', args.maxRpm, 'a number of requests per minute');
  positive('max-tpm', args.maxTpm, 'a number of tokens per minute');
  positive('price', args.price, 'a price in USD per million tokens', true);
  if (args.embeddingField === '' || args.embeddingField === 'embedding_model') throw new UsageError(`--embedding-field cannot be '${args.embeddingField}'`);
  nonEmpty('text-field', args.textField);
  whole('dimensions', args.dimensions, 1, 65_536);

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
