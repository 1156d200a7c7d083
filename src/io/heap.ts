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
import { PerformanceObserver } from 'node:perf_hooks';
import { getHeapSpaceStatistics, setFlagsFromString } from 'node:v8';

const DEFAULT_PERCENT = 50;

/**
 * The percentage to set, or undefined to leave V8's default (the user chose one, or 0).
 * @param byDefault the tool's own choice when the user made none
 */
export function heapGrowingPercent(
  env: NodeJS.ProcessEnv = process.env,
  execArgv: readonly string[] = process.execArgv,
  byDefault = DEFAULT_PERCENT,
): number | undefined {
  if (userSet(/--heap[-_]growing[-_]percent\b/, env, execArgv)) return undefined;
  const v = env.CT_HEAP_GROWING_PERCENT;
  if (v === undefined || v.trim() === '') return byDefault;
  const n = Number(v);
  return Number.isInteger(n) && n > 0 && n <= 1000 ? n : undefined;
}

/** The user gave node this flag, on its command line or in NODE_OPTIONS. */
function userSet(flag: RegExp, env: NodeJS.ProcessEnv, execArgv: readonly string[]): boolean {
  const re = new RegExp(`^${flag.source}`);
  return execArgv.some((a) => re.test(a)) || (env.NODE_OPTIONS ?? '').split(/\s+/).some((a) => re.test(a));
}

let growing: number | undefined;

/**
 * Set the factor (again only when it changes). `byDefault`: the tool's choice unless the user made one;
 * ct-load from Arrow or Parquet takes 100 %, not 50: with its small young generation more objects are
 * promoted, and at 50 % the old generation, of about 13 MB live, was collected every 25 ms (an unchanged
 * rerun of 100,000 embedded studies: 9.7 s / 159 MB at 50 %, 7.7 s / 162 MB at 100 %, 8.1 s / 175 MB with
 * V8's default; the first load 21.3 s / 178 MB, 20.3 s / 181 MB, 20.5 s / 201 MB).
 */
export function tightenHeapGrowth(byDefault = DEFAULT_PERCENT): void {
  const percent = heapGrowingPercent(process.env, process.execArgv, byDefault);
  if (percent === undefined || percent === growing) return;
  setFlagsFromString(`--heap-growing-percent=${percent}`);
  growing = percent;
}

/**
 * A small young generation for ct-embed while it makes vectors (a server answers, or the hash provider computes).
 *
 * V8 doubles the young generation's semi-spaces after a scavenge in which much survived, up to 16 MB each.
 * ct-embed keeps records alive across many scavenges while their texts are out, so the young generation grew
 * to its maximum, and that was what put a first run over 250 MB: 20,000 prepared studies against the local
 * OpenAI mock peaked at 252–255 MB (NDJSON out) and 285 MB (Arrow out), 218 and 236 MB with the semi-spaces
 * kept at their initial 1 MB from the start, and the runs were no slower; the hash provider 240–298 MB, about
 * 200 MB (for about 15 % more CPU time). Where every text is cached, ct-embed is CPU-bound, and there a small
 * young generation costs 20–30 % of the time (more objects live long enough to be copied and promoted) for
 * little memory (172 → 175 MB with NDJSON out): so the young generation grows while records are read and
 * none of their texts goes into a batch (up to 8 MB semi-spaces, not V8's 16: `YoungSize`), and stops growing
 * again when texts do.
 *
 * ct-load keeps it small too while it reads Arrow or Parquet: each batch body comes in a fresh buffer of its own
 * (≈ 8 MB for 5,000 rows with 1536-d vectors), freed only when the object holding it is collected. With V8's
 * young generation (grown to 16 MB semi-spaces) those buffers piled up between collections: 10,000 embedded
 * studies from Arrow peaked at 179 MB, 100,000 at 219 MB (3.5 s and 23.7 s); with the small one 166 and
 * 172 MB, flat, and faster (2.4 s and 21.6 s). From NDJSON, parsed on the main thread, it cost 14–17 % more
 * time (for 40 MB less), so there V8 grows it as it wants. ct-fetch keeps it small all along: each page comes
 * as one text of ≈ 15 MB (and the bytes it was decoded from), and the studies cut from it die young; with V8's
 * young generation 100,000 studies from the local mock peaked at 251–283 MB, with the small one 222–230 MB,
 * in the same time (25 s).
 * `--max-semi-space-size` would be the plain way, but V8 reads it only when node starts;
 * `--semi-space-growth-factor` is read at each scavenge, so it can be set at any time: 1 keeps the
 * semi-spaces at the size they have, 2 is V8's default (given on node's command line, V8 raises a factor
 * below 2 to 2 when it sets up the heap: `node --semi-space-growth-factor=1` still grew them to 16 MB).
 * A node flag of the user (`--max-semi-space-size`, `--min-semi-space-size`, `--semi-space-growth-factor`,
 * on the command line or in NODE_OPTIONS) or CT_SMALL_YOUNG_GENERATION=0 leaves V8 alone.
 */
export class YoungGeneration {
  private seen = 0;
  private last = { read: 0, texts: 0 };

  /**
   * @param counts records read and texts put into batches so far
   * @param every records written between two looks
   * @param set what keeps the young generation small or lets it grow (tests watch it)
   */
  constructor(
    private readonly counts: () => { read: number; texts: number },
    private readonly every = 4096,
    private readonly set: (size: YoungSize) => void = youngGeneration,
  ) {
    set('small');
  }

  /**
   * Called for each record written. Every `every` records: small if texts were batched since the last look;
   * grown up to 8 MB semi-spaces if records were read and none of their texts was (all cached); unchanged if
   * nothing was read (the end of the input, where the last batches are written).
   */
  record(): void {
    if (++this.seen % this.every !== 0) return;
    const now = this.counts();
    if (now.texts > this.last.texts) this.set('small');
    else if (now.read > this.last.read) this.set('capped');
    this.last = { ...now };
  }
}

/**
 * `small`: the semi-spaces keep the size they have; `v8`: they grow as V8 wants (up to 16 MB each); `capped`:
 * they grow up to 8 MB each. ct-embed with every text cached, 100,000 studies, against 16 MB semi-spaces: NDJSON
 * out 22.3 s / 154 MB against 22.0 s / 219 MB, Arrow out 35.5 s / 215 MB against 36.6 s / 252 MB (4 MB semi-spaces:
 * 44.2 s / 219 MB). ct-load from NDJSON is not capped: 8 MB semi-spaces cost it a third more time there.
 */
export type YoungSize = 'small' | 'capped' | 'v8';

/** new_space's size (both semi-spaces) with 8 MB semi-spaces, as `--max-semi-space-size=8` left it. */
const CAPPED_NEW_SPACE_BYTES = 16 << 20;

let size: YoungSize | undefined;
let factor = 2;
let tunable: boolean | undefined;
let capping: PerformanceObserver | undefined;

const newSpaceBytes = (): number => getHeapSpaceStatistics().find((s) => s.space_name === 'new_space')?.space_size ?? 0;

function growthFactor(f: 1 | 2): void {
  if (f === factor) return;
  setFlagsFromString(`--semi-space-growth-factor=${f}`);
  factor = f;
}

/**
 * Set how far the young generation may grow (once per change). The semi-spaces grow only in a scavenge, so for
 * `capped` an observer of collections stops the growth at the cap (V8 has no runtime flag for the limit itself).
 * The launchers of ct-fetch, ct-embed and ct-load make it `small` before the CLI's modules load
 * (`src/io/small-young-generation.ts`).
 */
export function youngGeneration(want: YoungSize): void {
  tunable ??= youngGenerationTunable();
  if (!tunable || want === size) return;
  size = want;
  capping?.disconnect();
  capping = undefined;
  if (want === 'capped' && newSpaceBytes() < CAPPED_NEW_SPACE_BYTES) {
    growthFactor(2);
    capping = new PerformanceObserver(() => {
      if (newSpaceBytes() < CAPPED_NEW_SPACE_BYTES) return;
      growthFactor(1);
      capping?.disconnect();
      capping = undefined;
    });
    capping.observe({ entryTypes: ['gc'] });
  } else growthFactor(want === 'v8' ? 2 : 1);
}

/** Whether the tools may set the young generation's growth (the user did not choose, and did not switch it off). */
export function youngGenerationTunable(env: NodeJS.ProcessEnv = process.env, execArgv: readonly string[] = process.execArgv): boolean {
  if (userSet(/--(max[-_]|min[-_])?semi[-_]space[-_](size|growth[-_]factor)\b/, env, execArgv)) return false;
  return (env.CT_SMALL_YOUNG_GENERATION ?? '').trim() !== '0';
}
