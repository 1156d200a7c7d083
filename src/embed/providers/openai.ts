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

/** OpenAI's own API: vectors from it keep the plain label and cache namespace. */
export const DEFAULT_HOST = 'api.openai.com';

/**
 * A non-default base URL as the label's server (`host:port`) and the cache's scope (scheme, host, port and
 * path: no user, password, query or fragment); undefined for OpenAI's own API or no base URL.
 */
export function serverOf(baseURL: string | undefined): { server: string; cacheScope: string } | undefined {
  if (!baseURL) return undefined;
  let url: URL;
  try {
    url = new URL(baseURL);
  } catch {
    return undefined; // the caller has refused it already
  }
  if (url.hostname.toLowerCase() === DEFAULT_HOST) return undefined;
  return { server: url.host.toLowerCase(), cacheScope: `${url.protocol}//${url.host.toLowerCase()}${url.pathname.replace(/\/+$/, '')}` };
}

export function openaiProvider(o: OpenAIProviderOptions): Provider {
  const client = new OpenAI({ apiKey: o.apiKey, baseURL: o.baseURL, maxRetries: 0, timeout: o.timeoutMs });
  // Never let the key reach a message, whatever a server echoes back.
  const scrub = (s: string) => (o.apiKey.length >= 4 ? s.split(o.apiKey).join('***') : s);
  return {
    name: 'openai',
    model: o.model,
    dims: o.dims,
    ...serverOf(o.baseURL),
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

/**
 * The answer's vectors in input order, checked for count, indices, size and finite numbers. An answer that
 * does not hold exactly one vector for each input is a failed request (`bad-answer`: retried, then the run
 * stops naming the batch); it never becomes a record without its vector.
 */
export function vectorsOf(res: OpenAI.CreateEmbeddingResponse, n: number, dims: number): Float32Array[] {
  const data = res?.data;
  if (!Array.isArray(data) || data.length !== n) {
    throw new ProviderError(`server answered ${Array.isArray(data) ? data.length : 'no'} embeddings for ${n} inputs`, 'bad-answer');
  }
  const out = new Array<Float32Array | undefined>(n).fill(undefined);
  for (const d of data) {
    const i = (d as { index?: unknown } | null)?.index;
    if (typeof i !== 'number' || !Number.isInteger(i) || i < 0 || i >= n) {
      throw new ProviderError(`server answered an embedding with index ${JSON.stringify(i)} for ${n} inputs`, 'bad-answer');
    }
    if (out[i] !== undefined) throw new ProviderError(`server answered index ${i} twice (missing or repeated indices)`, 'bad-answer');
    const e = d.embedding as unknown;
    let v: Float32Array;
    if (typeof e === 'string') v = decodeBase64(e);
    else if (Array.isArray(e) && e.every((x) => typeof x === 'number')) v = Float32Array.from(e);
    else throw new ProviderError(`server answered embedding ${i} as ${e === null ? 'null' : typeof e}, not a vector`, 'bad-answer');
    if (v.length !== dims) {
      throw new ProviderError(`server returned ${v.length}-dimensional vectors, expected ${dims} (see --dimensions)`, 'fatal');
    }
    for (let k = 0; k < v.length; k++) {
      if (!Number.isFinite(v[k])) throw new ProviderError(`server answered embedding ${i} with a non-finite number`, 'bad-answer');
    }
    out[i] = v;
  }
  return out as Float32Array[];
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
