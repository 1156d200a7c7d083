/** Price per million input tokens (USD), for `--dry-run` and the summary's estimate; `--price` overrides. */

export const PRICES_PER_MILLION: Record<string, number> = {
  'text-embedding-3-small': 0.02,
  'text-embedding-3-large': 0.13,
  'text-embedding-ada-002': 0.1,
};

/** USD per million tokens for this run: `--price`, else the table by model name, else unknown (a local model). */
export function pricePerMillion(provider: string, model: string, override?: number): number | undefined {
  if (override !== undefined) return override;
  if (provider !== 'openai') return 0;
  return PRICES_PER_MILLION[model];
}

export function fmtCost(tokens: number, perMillion: number | undefined): string {
  if (perMillion === undefined) return 'cost unknown (set --price)';
  const usd = (tokens / 1e6) * perMillion;
  return `$${usd < 0.01 && usd > 0 ? usd.toFixed(6) : usd.toFixed(2)}`;
}
