/**
 * Loopback mock of OpenAI's `POST /v1/embeddings` endpoint, for tests.
 *
 * - Validates requests like the real API (input shapes, 2048 inputs, 8192 tokens per input,
 *   300,000 tokens per request, known models, `dimensions`, `encoding_format`).
 * - Returns deterministic vectors (see `mockVector`) as float arrays or base64 float32 LE.
 * - Optional fault injection (429 / 500 / connection reset / slow answer) from a seeded PRNG,
 *   optional RPM/TPM budgets, optional API key check, fixed latency.
 * - `GET /v1/stats` and `POST /v1/stats/reset` for out-of-process inspection.
 *
 * Standalone: `node dist/test/mocks/openai-mock.js --port N [--port-file F] [--fault-rate R] [--tpm N] [--seed N] ...`
 */
import { createHash } from 'node:crypto';
import { realpathSync, renameSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { endianness } from 'node:os';
import { pathToFileURL } from 'node:url';
import { encode } from 'gpt-tokenizer/encoding/cl100k_base';

export interface OpenAIMockOptions {
  port?: number;
  /** If set, requests without `Authorization: Bearer <key>` get 401 with OpenAI error JSON. */
  requireKey?: string;
  /** Probabilities per request (seeded PRNG, see `seed`). */
  faults?: {
    rate429?: number;
    /** Value of `retry-after` on injected 429s (seconds; 0 and fractions allowed; default 0.02). */
    retryAfterSeconds?: number;
    rate500?: number;
    /** Probability of a TCP reset (socket destroyed without answer). */
    rateReset?: number;
    /** Probability of a slow (but otherwise normal) answer. */
    rateSlow?: number;
    /** Extra latency of a slow answer (default 2000 ms). */
    slowMs?: number;
    /** A broken compatible server: every embedding of an answer says `index: 0`. */
    sameIndex?: boolean;
  };
  /** PRNG seed for faults (default 1). */
  seed?: number;
  /** Tokens-per-minute budget (fixed 60 s windows). */
  tpm?: number;
  /** Requests-per-minute budget (fixed 60 s windows). */
  rpm?: number;
  /** Fixed latency on every embeddings answer (default 0). */
  delayMs?: number;
}

export interface OpenAIMockStats {
  /** Every POST /v1/embeddings request received (stats endpoints are not counted). */
  requests: number;
  /** Requests answered 200. */
  okRequests: number;
  /** Inputs in 200 answers. */
  inputs: number;
  /** Tokens (usage.prompt_tokens) in 200 answers. */
  tokens: number;
  /** Injected faults: 429, 500 and resets (not slow answers, not RPM/TPM 429s). */
  faults: number;
  /** Requests rejected with status 400 (validation). */
  rejected400: number;
  /** Slow answers injected (these still count as their final status, usually 200). */
  slow: number;
  /** 429s because of the `rpm`/`tpm` budgets. */
  rateLimited: number;
  /** Other rejections: 401 (key), 404 (model / URL), 413 (body too large). */
  rejectedOther: number;
}

export interface OpenAIMockLogEntry {
  inputs: number;
  tokens: number;
  /** HTTP status sent, 0 for an injected connection reset. */
  status: number;
  model: string;
  dimensions?: number;
  encoding: string;
}

export interface OpenAIMock {
  /** Base URL for the SDK, e.g. http://127.0.0.1:PORT/v1 */
  url: string;
  port: number;
  stats: OpenAIMockStats;
  requestLog: OpenAIMockLogEntry[];
  /**
   * How many times each input was received in a 200 answer. Key: the text itself;
   * for token-id inputs, `JSON.stringify(ids)`.
   */
  seenTexts: Map<string, number>;
  setFaults(f: OpenAIMockOptions['faults']): void;
  resetStats(): void;
  close(): Promise<void>;
}

// ---------------------------------------------------------------------------
// Deterministic vectors

/** sfc32 PRNG (32-bit state words). */
function sfc32(a: number, b: number, c: number, d: number): () => number {
  return () => {
    a >>>= 0; b >>>= 0; c >>>= 0; d >>>= 0;
    let t = (a + b) | 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) | 0;
    c = (c << 21) | (c >>> 11);
    d = (d + 1) | 0;
    t = (t + d) | 0;
    c = (c + t) | 0;
    return (t >>> 0) / 4294967296;
  };
}

/**
 * The deterministic vector the mock returns for `text` with `dims` dimensions.
 * Seeded from SHA-256 of the UTF-8 text; the first `dims` values of the stream are
 * L2-normalised. Because the stream is the same for every length, this equals
 * "native vector truncated to `dims` and re-normalised", as OpenAI does for v3 models.
 * For token-id inputs the mock uses `mockVector(JSON.stringify(ids), dims)`.
 * Every model gives the same vector for the same text.
 */
export function mockVector(text: string, dims: number): Float32Array {
  if (!Number.isInteger(dims) || dims < 1) throw new RangeError(`dims must be a positive integer, got ${dims}`);
  const h = createHash('sha256').update(text, 'utf8').digest();
  const rnd = sfc32(h.readUInt32LE(0), h.readUInt32LE(4), h.readUInt32LE(8), h.readUInt32LE(12));
  for (let i = 0; i < 12; i++) rnd(); // warm up
  const raw = new Float64Array(dims);
  let sq = 0;
  for (let i = 0; i < dims; i++) {
    const v = rnd() * 2 - 1;
    raw[i] = v;
    sq += v * v;
  }
  const norm = Math.sqrt(sq) || 1;
  const out = new Float32Array(dims);
  for (let i = 0; i < dims; i++) out[i] = raw[i]! / norm;
  return out;
}

function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// ---------------------------------------------------------------------------
// API constants

const MODELS: Record<string, { native: number; dimensions: boolean }> = {
  'text-embedding-3-small': { native: 1536, dimensions: true },
  'text-embedding-3-large': { native: 3072, dimensions: true },
  'text-embedding-ada-002': { native: 1536, dimensions: false },
};
const MAX_INPUTS = 2048;
const MAX_TOKENS_PER_INPUT = 8192;
const MAX_TOKENS_PER_REQUEST = 300_000;
const CL100K_VOCAB = 100_277; // ids 0..100276 incl. special tokens
const MAX_BODY_BYTES = 64 * 1024 * 1024;

class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly type: string = 'invalid_request_error',
    readonly param: string | null = null,
    readonly code: string | null = null,
  ) {
    super(message);
  }
  body(): string {
    return JSON.stringify({ error: { message: this.message, type: this.type, param: this.param, code: this.code } });
  }
}

const invalidInput = () =>
  new ApiError(400, "'$.input' is invalid. Please check the API reference: https://platform.openai.com/docs/api-reference.", 'invalid_request_error', null, null);

/** OpenAI-style duration: '20ms', '1.5s', '6m0s'. */
function fmtDuration(ms: number): string {
  ms = Math.max(0, ms);
  if (ms < 1000) return `${Math.round(ms)}ms`;
  if (ms < 60_000) return `${Number((ms / 1000).toFixed(3))}s`;
  const m = Math.floor(ms / 60_000);
  return `${m}m${Number(((ms - m * 60_000) / 1000).toFixed(3))}s`;
}

function countTokens(text: string): number {
  return encode(text, { disallowedSpecial: new Set() }).length;
}

interface ParsedInput {
  key: string; // text, or JSON of token ids
  tokens: number;
}

interface ParsedRequest {
  model: string;
  dims: number;
  dimensions?: number;
  encoding: 'float' | 'base64';
  inputs: ParsedInput[];
  totalTokens: number;
}

function isTokenArray(v: unknown): v is number[] {
  return Array.isArray(v) && v.length > 0 && v.every((x) => typeof x === 'number');
}

function checkTokenIds(ids: number[]): void {
  for (const id of ids) {
    if (!Number.isInteger(id) || id < 0 || id >= CL100K_VOCAB) throw invalidInput();
  }
}

/** Best-effort input count for log entries of requests that were not validated. */
function roughInputCount(body: unknown): number {
  if (!body || typeof body !== 'object') return 0;
  const input = (body as { input?: unknown }).input;
  if (typeof input === 'string') return 1;
  if (isTokenArray(input)) return 1;
  if (Array.isArray(input)) return input.length;
  return 0;
}

function validate(body: unknown): ParsedRequest {
  if (!body || typeof body !== 'object' || Array.isArray(body)) {
    throw new ApiError(400, 'The request body must be a JSON object.');
  }
  const b = body as Record<string, unknown>;
  if (b.model === undefined || b.model === null || b.model === '') {
    throw new ApiError(400, 'you must provide a model parameter', 'invalid_request_error', null, null);
  }
  if (typeof b.model !== 'string') {
    throw new ApiError(400, `Invalid type for 'model': expected a string, but got ${typeof b.model} instead.`, 'invalid_request_error', 'model', 'invalid_type');
  }
  const model = b.model;
  if (b.input === undefined) {
    throw new ApiError(400, "Missing required parameter: 'input'.", 'invalid_request_error', 'input', 'missing_required_parameter');
  }
  let encoding: 'float' | 'base64' = 'float';
  if (b.encoding_format !== undefined && b.encoding_format !== null) {
    if (b.encoding_format !== 'float' && b.encoding_format !== 'base64') {
      throw new ApiError(400, `Invalid value for 'encoding_format': ${JSON.stringify(b.encoding_format)}. Supported values are: 'float' and 'base64'.`, 'invalid_request_error', 'encoding_format', 'invalid_value');
    }
    encoding = b.encoding_format;
  }
  if (b.user !== undefined && b.user !== null && typeof b.user !== 'string') {
    throw new ApiError(400, `Invalid type for 'user': expected a string, but got ${typeof b.user} instead.`, 'invalid_request_error', 'user', 'invalid_type');
  }
  const spec = MODELS[model];
  if (!spec) {
    throw new ApiError(404, `The model \`${model}\` does not exist or you do not have access to it.`, 'invalid_request_error', null, 'model_not_found');
  }
  let dims = spec.native;
  let dimensions: number | undefined;
  if (b.dimensions !== undefined && b.dimensions !== null) {
    if (!spec.dimensions) {
      throw new ApiError(400, 'This model does not support specifying dimensions.', 'invalid_request_error', null, null);
    }
    const d = b.dimensions;
    if (typeof d !== 'number' || !Number.isInteger(d)) {
      throw new ApiError(400, `Invalid type for 'dimensions': expected an integer, but got ${typeof d === 'number' ? 'a decimal' : typeof d} instead.`, 'invalid_request_error', 'dimensions', 'invalid_type');
    }
    if (d < 1 || d > spec.native) {
      throw new ApiError(400, `Invalid value for 'dimensions' = ${d}. Must be between 1 and ${spec.native}.`, 'invalid_request_error', 'dimensions', 'invalid_value');
    }
    dims = d;
    dimensions = d;
  }

  // Normalise the input shapes to a list of items.
  const input = b.input;
  let items: Array<string | number[]>;
  if (typeof input === 'string') items = [input];
  else if (isTokenArray(input)) items = [input];
  else if (Array.isArray(input)) {
    if (input.length === 0) throw invalidInput();
    if (input.length > MAX_INPUTS) {
      throw new ApiError(400, `'$.input' is invalid: array must have at most ${MAX_INPUTS} items, got ${input.length}.`, 'invalid_request_error', 'input', null);
    }
    const allStrings = input.every((x) => typeof x === 'string');
    const allTokenArrays = input.every((x) => isTokenArray(x));
    if (!allStrings && !allTokenArrays) throw invalidInput();
    items = input as Array<string | number[]>;
  } else {
    throw invalidInput();
  }

  const inputs: ParsedInput[] = [];
  let totalTokens = 0;
  for (const item of items) {
    let parsed: ParsedInput;
    if (typeof item === 'string') {
      if (item.length === 0) throw invalidInput();
      parsed = { key: item, tokens: countTokens(item) };
    } else {
      checkTokenIds(item);
      parsed = { key: JSON.stringify(item), tokens: item.length };
    }
    if (parsed.tokens > MAX_TOKENS_PER_INPUT) {
      throw new ApiError(
        400,
        `This model's maximum context length is ${MAX_TOKENS_PER_INPUT} tokens, however you requested ${parsed.tokens} tokens (${parsed.tokens} in your prompt; 0 for the completion). Please reduce your prompt; or completion length.`,
        'invalid_request_error', null, null,
      );
    }
    totalTokens += parsed.tokens;
    inputs.push(parsed);
  }
  if (totalTokens > MAX_TOKENS_PER_REQUEST) {
    throw new ApiError(400, `Requested ${totalTokens} tokens, max ${MAX_TOKENS_PER_REQUEST} tokens per request`, 'invalid_request_error', null, 'max_tokens_per_request');
  }
  return { model, dims, dimensions, encoding, inputs, totalTokens };
}

function vectorBase64(v: Float32Array): string {
  if (endianness() === 'LE') return Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64');
  const buf = Buffer.allocUnsafe(v.length * 4);
  for (let i = 0; i < v.length; i++) buf.writeFloatLE(v[i]!, i * 4);
  return buf.toString('base64');
}

function vectorFloats(v: Float32Array): number[] {
  // 9 significant digits round-trip exactly through float32.
  const out = new Array<number>(v.length);
  for (let i = 0; i < v.length; i++) out[i] = Number(v[i]!.toPrecision(9));
  return out;
}

function emptyStats(): OpenAIMockStats {
  return { requests: 0, okRequests: 0, inputs: 0, tokens: 0, faults: 0, rejected400: 0, slow: 0, rateLimited: 0, rejectedOther: 0 };
}

// ---------------------------------------------------------------------------
// Server

export async function startOpenAIMock(opts: OpenAIMockOptions = {}): Promise<OpenAIMock> {
  let faults: NonNullable<OpenAIMockOptions['faults']> = { ...(opts.faults ?? {}) };
  const rand = mulberry32(opts.seed ?? 1);
  const delayMs = opts.delayMs ?? 0;
  const timers = new Set<NodeJS.Timeout>();
  let closed = false;

  const stats = emptyStats();
  const requestLog: OpenAIMockLogEntry[] = [];
  const seenTexts = new Map<string, number>();

  // Fixed 60 s rate windows.
  let windowStart = Date.now();
  let windowRequests = 0;
  let windowTokens = 0;
  const rollWindow = (now: number) => {
    if (now - windowStart >= 60_000) {
      windowStart = now - ((now - windowStart) % 60_000);
      windowRequests = 0;
      windowTokens = 0;
    }
  };

  const sleep = (ms: number) =>
    ms <= 0
      ? Promise.resolve()
      : new Promise<void>((resolve) => {
          const t = setTimeout(() => {
            timers.delete(t);
            resolve();
          }, ms);
          timers.add(t);
        });

  const send = (res: ServerResponse, status: number, body: string, headers: Record<string, string> = {}) => {
    if (res.destroyed || res.writableEnded) return;
    res.writeHead(status, {
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(body),
      'openai-processing-ms': '1',
      'x-request-id': `req_mock_${stats.requests}`,
      ...headers,
    });
    res.end(body);
  };

  const rateHeaders = (now: number): Record<string, string> => {
    const h: Record<string, string> = {};
    const reset = fmtDuration(windowStart + 60_000 - now);
    if (opts.rpm !== undefined) {
      h['x-ratelimit-limit-requests'] = String(opts.rpm);
      h['x-ratelimit-remaining-requests'] = String(Math.max(0, opts.rpm - windowRequests));
      h['x-ratelimit-reset-requests'] = reset;
    }
    if (opts.tpm !== undefined) {
      h['x-ratelimit-limit-tokens'] = String(opts.tpm);
      h['x-ratelimit-remaining-tokens'] = String(Math.max(0, opts.tpm - windowTokens));
      h['x-ratelimit-reset-tokens'] = reset;
    }
    return h;
  };

  const readBody = (req: IncomingMessage) =>
    new Promise<Buffer | null>((resolve, reject) => {
      const chunks: Buffer[] = [];
      let size = 0;
      let tooBig = false;
      req.on('data', (c: Buffer) => {
        size += c.length;
        if (size > MAX_BODY_BYTES) tooBig = true;
        else chunks.push(c);
      });
      req.on('end', () => resolve(tooBig ? null : Buffer.concat(chunks)));
      req.on('error', reject);
    });

  const statsJson = () =>
    JSON.stringify({ ...stats, requestLogLength: requestLog.length, seenTexts: Object.fromEntries(seenTexts) });

  const resetStats = () => {
    Object.assign(stats, emptyStats());
    requestLog.length = 0;
    seenTexts.clear();
  };

  async function handleEmbeddings(req: IncomingMessage, res: ServerResponse): Promise<void> {
    stats.requests++;
    const raw = await readBody(req);
    let body: unknown;
    let jsonError = false;
    if (raw !== null) {
      try {
        body = JSON.parse(raw.toString('utf8'));
      } catch {
        jsonError = true;
      }
    }
    const b = (body && typeof body === 'object' ? body : {}) as Record<string, unknown>;
    const entry: OpenAIMockLogEntry = {
      inputs: roughInputCount(body),
      tokens: 0,
      status: 0,
      model: typeof b.model === 'string' ? b.model : '',
      encoding: typeof b.encoding_format === 'string' ? b.encoding_format : 'float',
    };
    if (typeof b.dimensions === 'number') entry.dimensions = b.dimensions;

    const finish = async (status: number, payload: string, headers?: Record<string, string>) => {
      await sleep(delayMs);
      entry.status = status;
      requestLog.push(entry);
      send(res, status, payload, headers);
    };
    const fail = async (err: ApiError, headers?: Record<string, string>) => {
      if (err.status === 400) stats.rejected400++;
      else if (err.status !== 429 && err.status < 500) stats.rejectedOther++;
      await finish(err.status, err.body(), headers);
    };

    // Authentication.
    if (opts.requireKey !== undefined) {
      const auth = req.headers.authorization ?? '';
      const m = /^Bearer\s+(.+)$/i.exec(auth);
      if (!m) {
        return fail(new ApiError(401, "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).", 'invalid_request_error', null, null));
      }
      if (m[1]!.trim() !== opts.requireKey) {
        const k = m[1]!.trim();
        const masked = k.length > 8 ? `${k.slice(0, 3)}***${k.slice(-4)}` : '***';
        return fail(new ApiError(401, `Incorrect API key provided: ${masked}. You can find your API key at https://platform.openai.com/account/api-keys.`, 'invalid_request_error', null, 'invalid_api_key'));
      }
    }
    if (raw === null) {
      return fail(new ApiError(413, `Request body too large (max ${MAX_BODY_BYTES} bytes).`, 'invalid_request_error', null, null));
    }

    // Injected faults (before validation).
    const r429 = faults.rate429 ?? 0;
    const r500 = faults.rate500 ?? 0;
    const rReset = faults.rateReset ?? 0;
    const rSlow = faults.rateSlow ?? 0;
    if (r429 + r500 + rReset + rSlow > 0) {
      const u = rand();
      if (u < r429) {
        stats.faults++;
        const ra = faults.retryAfterSeconds ?? 0.02;
        const ms = ra * 1000;
        const headers: Record<string, string> = {
          'retry-after': String(ra),
          'x-ratelimit-limit-requests': String(opts.rpm ?? 3000),
          'x-ratelimit-remaining-requests': '0',
          'x-ratelimit-reset-requests': fmtDuration(ms),
          'x-ratelimit-limit-tokens': String(opts.tpm ?? 1_000_000),
          'x-ratelimit-remaining-tokens': '0',
          'x-ratelimit-reset-tokens': fmtDuration(ms),
        };
        if (!Number.isInteger(ra)) headers['retry-after-ms'] = String(Math.round(ms));
        return fail(
          new ApiError(429, `Rate limit reached for ${entry.model || 'model'} in organization org-mock on requests per min (RPM): Limit ${opts.rpm ?? 3000}, Used ${opts.rpm ?? 3000}, Requested 1. Please try again in ${fmtDuration(ms)}. Visit https://platform.openai.com/account/rate-limits to learn more.`, 'requests', null, 'rate_limit_exceeded'),
          headers,
        );
      }
      if (u < r429 + r500) {
        stats.faults++;
        return fail(new ApiError(500, 'The server had an error while processing your request. Sorry about that!', 'server_error', null, null));
      }
      if (u < r429 + r500 + rReset) {
        stats.faults++;
        await sleep(delayMs);
        entry.status = 0;
        requestLog.push(entry);
        const sock = req.socket;
        if (typeof sock.resetAndDestroy === 'function') sock.resetAndDestroy();
        else sock.destroy();
        return;
      }
      if (u < r429 + r500 + rReset + rSlow) {
        stats.slow++;
        await sleep(faults.slowMs ?? 2000);
      }
    }

    if (jsonError) {
      return fail(new ApiError(400, 'We could not parse the JSON body of your request. (HINT: This likely means you aren\'t using your HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON.)', 'invalid_request_error', null, null));
    }

    let parsed: ParsedRequest;
    try {
      parsed = validate(body);
    } catch (e) {
      if (e instanceof ApiError) return fail(e);
      throw e;
    }
    entry.inputs = parsed.inputs.length;
    entry.tokens = parsed.totalTokens;
    entry.encoding = parsed.encoding;

    // RPM / TPM budgets.
    const now = Date.now();
    rollWindow(now);
    const overRpm = opts.rpm !== undefined && windowRequests + 1 > opts.rpm;
    const overTpm = opts.tpm !== undefined && windowTokens + parsed.totalTokens > opts.tpm;
    if (overRpm || overTpm) {
      stats.rateLimited++;
      const resetMs = windowStart + 60_000 - now;
      const headers = rateHeaders(now);
      headers['retry-after'] = String(Math.max(1, Math.ceil(resetMs / 1000)));
      headers['retry-after-ms'] = String(Math.max(0, Math.round(resetMs)));
      const msg = overTpm
        ? `Rate limit reached for ${parsed.model} in organization org-mock on tokens per min (TPM): Limit ${opts.tpm}, Used ${windowTokens}, Requested ${parsed.totalTokens}. Please try again in ${fmtDuration(resetMs)}. Visit https://platform.openai.com/account/rate-limits to learn more.`
        : `Rate limit reached for ${parsed.model} in organization org-mock on requests per min (RPM): Limit ${opts.rpm}, Used ${windowRequests}, Requested 1. Please try again in ${fmtDuration(resetMs)}. Visit https://platform.openai.com/account/rate-limits to learn more.`;
      return fail(new ApiError(429, msg, overTpm ? 'tokens' : 'requests', null, 'rate_limit_exceeded'), headers);
    }
    windowRequests++;
    windowTokens += parsed.totalTokens;

    const data = parsed.inputs.map((inp, index) => {
      const v = mockVector(inp.key, parsed.dims);
      return {
        object: 'embedding',
        index: faults.sameIndex ? 0 : index,
        embedding: parsed.encoding === 'base64' ? vectorBase64(v) : vectorFloats(v),
      };
    });
    const payload = JSON.stringify({
      object: 'list',
      data,
      model: parsed.model,
      usage: { prompt_tokens: parsed.totalTokens, total_tokens: parsed.totalTokens },
    });
    const headers = rateHeaders(now);
    await sleep(delayMs);
    if (res.destroyed) {
      // Client went away (or mock closed) while we waited: not a successful answer.
      entry.status = 0;
      requestLog.push(entry);
      return;
    }
    stats.okRequests++;
    stats.inputs += parsed.inputs.length;
    stats.tokens += parsed.totalTokens;
    for (const inp of parsed.inputs) seenTexts.set(inp.key, (seenTexts.get(inp.key) ?? 0) + 1);
    entry.status = 200;
    requestLog.push(entry);
    send(res, 200, payload, headers);
  }

  const server = createServer((req, res) => {
    const url = (req.url ?? '/').split('?')[0]!.replace(/\/+$/, '');
    const method = req.method ?? 'GET';
    const handle = async () => {
      if (method === 'POST' && url === '/v1/embeddings') return handleEmbeddings(req, res);
      if (method === 'GET' && url === '/v1/stats') return send(res, 200, statsJson());
      if (method === 'POST' && url === '/v1/stats/reset') {
        req.resume();
        resetStats();
        return send(res, 200, JSON.stringify({ ok: true }));
      }
      if (method === 'GET' && url === '/v1/models') {
        return send(res, 200, JSON.stringify({
          object: 'list',
          data: Object.keys(MODELS).map((id) => ({ id, object: 'model', created: 0, owned_by: 'system' })),
        }));
      }
      req.resume();
      send(res, 404, new ApiError(404, `Invalid URL (${method} ${req.url ?? '/'})`, 'invalid_request_error', null, null).body());
    };
    handle().catch((err: unknown) => {
      if (!res.headersSent && !res.destroyed) {
        send(res, 500, new ApiError(500, `mock internal error: ${String(err)}`, 'server_error').body());
      }
    });
  });
  server.keepAliveTimeout = 5000;

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;

  return {
    url: `http://127.0.0.1:${port}/v1`,
    port,
    stats,
    requestLog,
    seenTexts,
    setFaults(f) {
      faults = { ...(f ?? {}) };
    },
    resetStats,
    close() {
      if (closed) return Promise.resolve();
      closed = true;
      for (const t of timers) clearTimeout(t);
      timers.clear();
      return new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}

// ---------------------------------------------------------------------------
// Standalone mode

function isDirectRun(): boolean {
  const argv1 = process.argv[1];
  if (!argv1) return false;
  if (import.meta.url === pathToFileURL(argv1).href) return true;
  try {
    return import.meta.url === pathToFileURL(realpathSync(argv1)).href;
  } catch {
    return false;
  }
}

const USAGE = `usage: node openai-mock.js [--port N] [--port-file F] [--seed N]
  [--fault-rate R]        total fault probability, split evenly over 429 / 500 / reset
  [--rate429 R] [--rate500 R] [--rate-reset R] [--rate-slow R] [--slow-ms MS] [--retry-after S]
  [--tpm N] [--rpm N] [--delay-ms MS] [--require-key KEY] [--same-index]`;

async function main(argv: string[]): Promise<void> {
  const opts: OpenAIMockOptions = {};
  const faults: NonNullable<OpenAIMockOptions['faults']> = {};
  let portFile: string | undefined;
  const num = (flag: string, v: string | undefined): number => {
    const n = Number(v);
    if (v === undefined || v === '' || !Number.isFinite(n)) {
      process.stderr.write(`openai-mock: ${flag} needs a number\n${USAGE}\n`);
      process.exit(2);
    }
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    let flag = argv[i]!;
    let val: string | undefined;
    const eq = flag.indexOf('=');
    if (flag.startsWith('--') && eq > 0) {
      val = flag.slice(eq + 1);
      flag = flag.slice(0, eq);
    }
    const next = () => (val !== undefined ? val : argv[++i]);
    switch (flag) {
      case '--port': opts.port = num(flag, next()); break;
      case '--port-file': portFile = next(); break;
      case '--seed': opts.seed = num(flag, next()); break;
      case '--fault-rate': {
        const r = num(flag, next());
        faults.rate429 = r / 3;
        faults.rate500 = r / 3;
        faults.rateReset = r / 3;
        break;
      }
      case '--rate429': faults.rate429 = num(flag, next()); break;
      case '--rate500': faults.rate500 = num(flag, next()); break;
      case '--rate-reset': faults.rateReset = num(flag, next()); break;
      case '--rate-slow': faults.rateSlow = num(flag, next()); break;
      case '--slow-ms': faults.slowMs = num(flag, next()); break;
      case '--retry-after': faults.retryAfterSeconds = num(flag, next()); break;
      case '--tpm': opts.tpm = num(flag, next()); break;
      case '--rpm': opts.rpm = num(flag, next()); break;
      case '--delay-ms': opts.delayMs = num(flag, next()); break;
      case '--require-key': opts.requireKey = next(); break;
      case '--same-index': faults.sameIndex = true; break;
      case '-h':
      case '--help':
        process.stdout.write(`${USAGE}\n`);
        return;
      default:
        process.stderr.write(`openai-mock: unknown argument ${flag}\n${USAGE}\n`);
        process.exit(2);
    }
  }
  opts.faults = faults;
  const mock = await startOpenAIMock(opts);
  if (portFile) {
    const tmp = `${portFile}.${process.pid}.tmp`;
    writeFileSync(tmp, `${mock.port}\n`);
    renameSync(tmp, portFile);
  }
  process.stdout.write(`openai-mock listening on ${mock.url}\n`);

  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    process.stderr.write(`${JSON.stringify(mock.stats)}\n`, () => {
      mock.close().finally(() => process.exit(0));
    });
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

if (isDirectRun()) {
  main(process.argv.slice(2)).catch((err: unknown) => {
    process.stderr.write(`openai-mock: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
    process.exit(1);
  });
}
