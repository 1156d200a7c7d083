/**
 * `openai` provider: OpenAI's embeddings endpoint, or any compatible server (`--base-url`: Ollama, vLLM, TEI,
 * Azure …), through the official SDK with its own retries switched off — ct-embed retries itself so it can
 * count retries, honour the rate-limit headers and adapt its concurrency. Failures become ProviderErrors.
 */
import { endianness } from 'node:os';
import OpenAI from 'openai';
import { redactUrl } from '../../io/redact.js';
import { hostOf, unreachableReason } from '../../util/net.js';
import { parseDurationMs, parseRetryAfter } from '../../util/retry.js';
import { ProviderError, type Provider } from './types.js';

const DEFAULT_BASE_URL = 'https://api.openai.com/v1';

/** Native vector sizes, and whether the model accepts `dimensions` (the v3 models shorten their vectors). */
export const OPENAI_MODELS: Record<string, { native: number; shortens: boolean }> = {
  'text-embedding-3-small': { native: 1536, shortens: true },
  'text-embedding-3-large': { native: 3072, shortens: true },
  'text-embedding-ada-002': { native: 1536, shortens: false },
};

export interface OpenAIProviderOptions {
  model: string;
  dims: number;
  /** Send `dimensions` (v3 models only). */
  sendDimensions: boolean;
  encoding: 'float' | 'base64';
  apiKey: string;
  baseURL?: string;
  timeoutMs: number;
}

export function openaiProvider(o: OpenAIProviderOptions): Provider {
  const client = new OpenAI({ apiKey: o.apiKey, baseURL: o.baseURL, maxRetries: 0, timeout: o.timeoutMs });
  // Never let the key reach a message, whatever a server echoes back.
  const scrub = (s: string) => (o.apiKey.length >= 4 ? s.split(o.apiKey).join('***') : s);
  return {
    name: 'openai',
    model: o.model,
    dims: o.dims,
    remote: true,
    async embed(texts) {
      let res: OpenAI.CreateEmbeddingResponse;
      try {
        res = await client.embeddings.create({
          model: o.model,
          input: texts,
          encoding_format: o.encoding,
          ...(o.sendDimensions ? { dimensions: o.dims } : {}),
        });
      } catch (err) {
        throw classify(err, scrub, o.baseURL);
      }
      return vectorsOf(res, texts.length, o.dims);
    },
  };
}

/** The answer's vectors in input order, checked for count and size. */
export function vectorsOf(res: OpenAI.CreateEmbeddingResponse, n: number, dims: number): Float32Array[] {
  const data = res?.data;
  if (!Array.isArray(data) || data.length !== n) {
    throw new ProviderError(`server answered ${Array.isArray(data) ? data.length : 'no'} embeddings for ${n} inputs`, 'retry');
  }
  const out = new Array<Float32Array>(n);
  for (const d of data) {
    const v = typeof d.embedding === 'string' ? decodeBase64(d.embedding) : Float32Array.from(d.embedding);
    if (v.length !== dims) {
      throw new ProviderError(`server returned ${v.length}-dimensional vectors, expected ${dims} (see --dimensions)`, 'fatal');
    }
    out[d.index] = v;
  }
  if (out.some((v) => v === undefined)) throw new ProviderError('server answered with missing or repeated indices', 'retry');
  return out;
}

/** base64 of little-endian float32s → Float32Array. */
export function decodeBase64(s: string): Float32Array {
  const bytes = Buffer.from(s, 'base64');
  const out = new Float32Array(bytes.length >> 2);
  if (endianness() === 'LE') new Uint8Array(out.buffer).set(bytes.subarray(0, out.length * 4));
  else for (let i = 0; i < out.length; i++) out[i] = bytes.readFloatLE(i * 4);
  return out;
}

/** Map an SDK error to a ProviderError the retry loop understands. */
export function classify(err: unknown, scrub: (s: string) => string, baseURL?: string): ProviderError {
  const where = baseURL ? ` (${redactUrl(baseURL)})` : '';
  if (err instanceof OpenAI.APIConnectionTimeoutError) return new ProviderError('request timed out', 'retry');
  if (err instanceof OpenAI.APIConnectionError) {
    const unreachable = unreachableReason(err, hostOf(baseURL ?? DEFAULT_BASE_URL));
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    const text = unreachable ?? `connection error${where}: ${cause?.code ?? cause?.message ?? err.message}`;
    return Object.assign(new ProviderError(scrub(text), 'retry'), { connection: true, unreachable: unreachable !== undefined });
  }
  if (!(err instanceof OpenAI.APIError) || err.status === undefined) {
    if (err instanceof ProviderError) return err;
    throw err; // a bug, not a network problem
  }
  const status = err.status;
  const msg = scrub(err.message);
  const h = err.headers;
  const retryAfterMs = h ? serverWait(h) : undefined;
  if (status === 429) {
    // Quota exhausted is a 429 too, but waiting will not refill it.
    if (err.code === 'insufficient_quota') return new ProviderError(msg, 'fatal', status);
    const limit = Number(h?.get('x-ratelimit-limit-tokens'));
    return new ProviderError(msg, 'retry', status, retryAfterMs, Number.isFinite(limit) && limit > 0 ? limit : undefined);
  }
  if (status === 408 || status === 409 || status >= 500) return new ProviderError(msg, 'retry', status, retryAfterMs);
  if (status === 401 || status === 403 || status === 404) return new ProviderError(`${msg}${where}`, 'fatal', status);
  return new ProviderError(msg, 'reject', status);
}

/**
 * The server's requested wait: `retry-after-ms`, else `retry-after`, else the reset time of whichever
 * x-ratelimit budget is exhausted.
 */
export function serverWait(h: Headers): number | undefined {
  const ms = Number(h.get('retry-after-ms'));
  if (h.get('retry-after-ms') !== null && Number.isFinite(ms) && ms >= 0) return ms;
  const ra = parseRetryAfter(h.get('retry-after'));
  if (ra !== undefined) return ra;
  let wait: number | undefined;
  for (const kind of ['requests', 'tokens']) {
    if (h.get(`x-ratelimit-remaining-${kind}`) !== '0') continue;
    const reset = parseDurationMs(h.get(`x-ratelimit-reset-${kind}`));
    if (reset !== undefined) wait = Math.max(wait ?? 0, reset);
  }
  return wait;
}
