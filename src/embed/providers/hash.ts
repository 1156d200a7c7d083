/**
 * `hash` provider: offline, deterministic feature hashing (Weinberger et al. 2009). Word unigrams (weight 1)
 * and adjacent word pairs (weight 0.5) of the lower-cased text are hashed (FNV-1a, murmur3 finaliser) to a
 * dimension and a sign, summed and L2-normalised. Similar wording gives similar vectors; synonyms do not:
 * it is lexical, not semantic — for demos, tests and pipelines without network.
 */
import type { Provider } from './types.js';

export const HASH_MODEL = 'fh-v1';

function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** murmur3's 32-bit finaliser: spreads FNV's weak low bits over the whole word. */
function mix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

const WORD = /[\p{L}\p{N}]+/gu;

export function hashVector(text: string, dims: number): Float32Array {
  const acc = new Float64Array(dims);
  const add = (feature: string, weight: number) => {
    const h = mix(fnv1a(feature));
    acc[h % dims]! += (mix(h ^ 0x9e3779b9) & 1 ? 1 : -1) * weight;
  };
  const words = text.toLowerCase().match(WORD) ?? [];
  for (let i = 0; i < words.length; i++) {
    add(words[i]!, 1);
    if (i > 0) add(`${words[i - 1]!} ${words[i]!}`, 0.5);
  }
  // A text without letters or digits ("!!!") is still a text: let it be its own feature.
  if (words.length === 0) add(text.trim() || text, 1);
  let sq = 0;
  for (let i = 0; i < dims; i++) sq += acc[i]! * acc[i]!;
  const norm = Math.sqrt(sq) || 1;
  const out = new Float32Array(dims);
  for (let i = 0; i < dims; i++) out[i] = acc[i]! / norm;
  return out;
}

export function hashProvider(dims: number): Provider {
  return {
    name: 'hash',
    model: HASH_MODEL,
    dims,
    remote: false,
    embed: async (texts) => texts.map((t) => hashVector(t, dims)),
  };
}
