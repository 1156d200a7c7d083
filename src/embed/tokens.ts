/**
 * Token counting with cl100k_base, the tokenizer of OpenAI's embedding models (text-embedding-3-*, ada-002),
 * and truncation to the per-input limit. Special-token text such as `<|endoftext|>` is counted as plain text,
 * as the embeddings endpoint does, instead of throwing.
 */
import { decode, encode } from 'gpt-tokenizer/encoding/cl100k_base';

const PLAIN = { disallowedSpecial: new Set<string>() };

/** Longest input we send; OpenAI's limit is 8192 tokens and we keep one in hand. */
export const MAX_INPUT_TOKENS = 8191;

export function countTokens(text: string): number {
  return encode(text, PLAIN).length;
}

export interface Fitted {
  text: string;
  tokens: number;
  truncated: boolean;
}

/** `text` cut to at most `max` tokens (its first tokens, decoded), with its token count. */
export function fitTokens(text: string, max: number = MAX_INPUT_TOKENS): Fitted {
  const ids = encode(text, PLAIN);
  if (ids.length <= max) return { text, tokens: ids.length, truncated: false };
  // Re-encoding a decoded prefix can merge differently at the cut (or split a multi-byte character), so
  // shrink until the re-encoded text itself fits.
  let n = max;
  for (;;) {
    const cut = decode(ids.slice(0, n));
    const tokens = countTokens(cut);
    if (tokens <= max) return { text: cut, tokens, truncated: true };
    n -= tokens - max;
  }
}
