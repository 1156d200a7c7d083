/**
 * A tighter heap growing factor for V8, for the tools that stream records for a long time: ct-fetch, ct-prepare,
 * ct-load, and ct-embed once it sends texts to a server or when it writes Arrow or Parquet (batches of records).
 *
 * Their live heap stays small (a few batches: tens of MB), but they allocate fast, and V8 lets the old
 * generation grow to about three times what survived the last full collection before it collects again. That
 * garbage, not live data, was most of their peak RSS: ct-load of 10,000 embedded studies from NDJSON peaked
 * at 309 MB, 195 MB with the heap allowed to grow by half of what survived (`--heap-growing-percent=50`);
 * ct-prepare of 100,000 studies (`--dedupe latest`) at 267 MB, 186 MB with it (and 4 % more CPU time).
 * More frequent full collections cost CPU time, mostly on the second core (the marking runs concurrently):
 * 4 % for ct-prepare, but 15–30 % for ct-embed from NDJSON to NDJSON with every text cached, a CPU-bound
 * path whose peak stays low anyway (184 MB at 100,000 studies), which keeps V8's default. It is a growing
 * factor, not a limit: a 50 MB record still fits. V8 reads it at each
 * collection, so it can be set at any time. `node --heap-growing-percent=N` or CT_HEAP_GROWING_PERCENT=N
 * (0: V8's default) overrides it.
 */
import { setFlagsFromString } from 'node:v8';

const DEFAULT_PERCENT = 50;

/** The percentage to set, or undefined to leave V8's default (the user chose one, or 0). */
export function heapGrowingPercent(env: NodeJS.ProcessEnv = process.env, execArgv: readonly string[] = process.execArgv): number | undefined {
  if (execArgv.some((a) => /^--heap[-_]growing[-_]percent\b/.test(a))) return undefined;
  const v = env.CT_HEAP_GROWING_PERCENT;
  if (v === undefined || v.trim() === '') return DEFAULT_PERCENT;
  const n = Number(v);
  return Number.isInteger(n) && n > 0 && n <= 1000 ? n : undefined;
}

let done = false;

/** Set the factor (once per process). */
export function tightenHeapGrowth(): void {
  if (done) return;
  done = true;
  const percent = heapGrowingPercent();
  if (percent !== undefined) setFlagsFromString(`--heap-growing-percent=${percent}`);
}
