/**
 * What every bin shares: the option parser set-up, the common record I/O options, and the mapping of
 * errors to exit codes (0 ok or EPIPE, 1 runtime or data error, 2 usage error) and `tool: where: what`.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { Argv } from 'yargs';
import type yargsFactory from 'yargs';
import { DataError, OutputClosed, UsageError, errorText } from './io/errors.js';
import { noInput, openInput, type Format, type Input, type InputOptions } from './io/input.js';
import { RecordWriter } from './io/output.js';
import { Progress } from './io/progress.js';
import { redactOptions } from './io/redact.js';
import { Interrupted, gracefulStop, installSignalHandlers, interruption, stopOnSignal } from './io/signals.js';
import { Rejects } from './io/rejects.js';

export const VERSION: string = (
  JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }
).version;

/**
 * yargs' CommonJS build: its help layout wraps at word boundaries (wrap-ansi), where the ESM build cuts
 * words at the column edge (`filter.over` / `allStatus`).
 */
const yargs = createRequire(import.meta.url)('yargs') as typeof yargsFactory;

/** Help width without a terminal, and the width of the README's copy (`CT_HELP_WIDTH=100`). */
export const HELP_WIDTH = 100;

/** `--help` fits the terminal; CT_HELP_WIDTH fixes it (the README reference is generated that way). */
export function helpWidth(env: NodeJS.ProcessEnv = process.env, out: { isTTY?: boolean; columns?: number } = process.stdout): number {
  const fixed = Number(env.CT_HELP_WIDTH);
  if (Number.isInteger(fixed) && fixed >= 40) return fixed;
  if (out.isTTY && out.columns) return Math.max(40, out.columns);
  return HELP_WIDTH;
}

/**
 * A yargs parser with the shared conventions: strict, usage errors as UsageError (exit 2), fixed width.
 * `usage` is the synopsis line; text after a blank line becomes the description at the end of the help.
 */
export function parser(tool: string, argv: string[], usage: string): Argv {
  const [synopsis, ...description] = usage.split('\n\n');
  return yargs(argv)
    .scriptName(tool)
    .usage(synopsis)
    .epilogue(description.join('\n\n'))
    .strict()
    .wrap(helpWidth())
    .version(VERSION)
    .help('help')
    .alias('help', 'h')
    // One value per flag: `--status RECRUITING cancer` keeps `cancer` a positional. List options are
    // repeatable (and take comma lists); a single-value option given twice keeps the last value.
    .parserConfiguration({ 'duplicate-arguments-array': true, 'greedy-arrays': false, 'strip-aliased': true })
    .middleware(lastValueWins as never, true)
    .fail((msg, err) => {
      // Every parse failure (yargs' own errors included, e.g. "Not enough arguments following: rejects") is a usage error.
      throw err instanceof UsageError ? err : new UsageError(msg || errorText(err));
    });
}

/** A single-value option given more than once arrives as a list: keep its last value, in every tool. */
function lastValueWins(argv: Record<string, unknown>, y: { getOptions(): { array: string[] } }): void {
  const lists = new Set(y.getOptions().array);
  for (const [k, v] of Object.entries(argv)) {
    if (k !== '_' && Array.isArray(v) && !lists.has(k)) argv[k] = v.at(-1);
  }
}

/** The options every record tool has: input file, output, format, tee, rejects, quiet. */
export function recordOptions<T>(y: Argv<T>) {
  return y
    .positional('input', { type: 'string', default: '-', describe: 'input file (NDJSON, Arrow or Parquet, detected); - = stdin' })
    .option('out', { alias: 'o', type: 'string', describe: 'write records to FILE (atomically) instead of stdout', requiresArg: true })
    .option('format', {
      choices: ['ndjson', 'arrow', 'parquet'] as const,
      default: 'ndjson' as const,
      describe: 'output format; arrow: IPC file format in files (.arrows: stream), stream on stdout; parquet: zstd',
    })
    .option('tee', { type: 'string', describe: 'also write the output to FILE, atomically, with FILE.meta.json', requiresArg: true })
    .option('rejects', { type: 'string', describe: 'write bad records to FILE (NDJSON) and go on; default: stop at the first', requiresArg: true })
    .option('quiet', { alias: 'q', type: 'boolean', default: false, describe: 'no progress and no summary on stderr' });
}

export interface RecordArgs {
  input: string;
  out?: string;
  format: Format;
  tee?: string;
  rejects?: string;
  quiet: boolean;
}

export interface RecordIO {
  tool: string;
  input: Input;
  writer: RecordWriter;
  rejects: Rejects;
  progress: Progress;
}

export interface RecordIOOptions {
  /** What progress counts, e.g. `rows`. */
  progressUnit?: string;
  /** How Arrow input becomes records (ct-load takes vectors as Float32Array views). */
  input?: InputOptions;
  /** The tool reads no records (ct-fetch): an empty input named `none`, and no `input` in the metadata. */
  noInput?: boolean;
}

/**
 * Open the input, the output (with tee) and the rejects file; run `fn`; on success commit the files and
 * print the summary `fn` returns; on failure keep only partial files.
 */
export async function withRecordIO(
  tool: string,
  argv: RecordArgs & Record<string, unknown>,
  fn: (io: RecordIO) => Promise<string>,
  opts: RecordIOOptions = {},
): Promise<void> {
  const fromStdin = argv.input === '-' || argv.input === '';
  if (!opts.noInput && fromStdin && process.stdin.isTTY) {
    process.stderr.write(`${tool}: reading records from the terminal (end with Ctrl-D); give an input file or pipe records in (see --help)\n`);
  }
  const input = stopOnSignal(opts.noInput ? noInput() : await openInput(argv.input, undefined, opts.input));
  // From here on a signal stops the run cleanly; before (still waiting for the first bytes) it exits at once.
  gracefulStop();
  if (input.format === 'empty' && !opts.noInput) {
    // Most often the command before this one in a pipeline failed: say so, whatever --quiet says.
    process.stderr.write(`${tool}: warning: no records in ${input.name}${fromStdin ? ' (did the command before it fail? `set -o pipefail` makes a pipeline fail with it)' : ''}\n`);
  }
  const options = redactOptions(argv);
  if (opts.noInput) delete options.input;
  const writer = new RecordWriter({
    tool,
    version: VERSION,
    format: argv.format,
    out: argv.out,
    tee: argv.tee,
    options,
  });
  const rejects = new Rejects(argv.rejects);
  const progress = new Progress({
    tool,
    quiet: argv.quiet,
    unit: opts.progressUnit,
    total: input.sizeBytes,
    byBytes: input.sizeBytes !== undefined,
  });
  try {
    const summary = await untilStopped(fn({ tool, input, writer, rejects, progress }));
    await writer.close();
    rejects.close();
    if (writer.stdoutClosed && writer.paths.length) {
      progress.stop();
      process.stderr.write(`${tool}: output pipe closed by its reader; kept writing ${writer.paths.join(', ')}\n`);
    }
    progress.summary(summary);
  } catch (err) {
    progress.stop();
    // Interrupted: what was produced goes into the partial files before they are kept.
    if (err instanceof Interrupted) await writer.flush().catch(() => undefined);
    writer.abandon();
    rejects.abandon();
    if (err instanceof Interrupted) err.kept = writer.partials;
    throw err;
  }
}

/** Seconds a tool has, after SIGINT/SIGTERM, to finish the unit in progress (a COPY batch) before it is abandoned. */
const GRACE_SECONDS = 10;

/** `work`, or the Interrupted error once a signal came and the work did not stop within the grace period. */
function untilStopped<T>(work: Promise<T>): Promise<T> {
  const signal = interruption.signal;
  let timer: NodeJS.Timeout | undefined;
  const stopped = new Promise<never>((_, reject) => {
    const fire = () => {
      timer = setTimeout(() => reject(signal.reason), GRACE_SECONDS * 1000);
      timer.unref();
    };
    if (signal.aborted) fire();
    else signal.addEventListener('abort', fire, { once: true });
  });
  stopped.catch(() => undefined);
  return Promise.race([work, stopped]).finally(() => clearTimeout(timer));
}

/** Exit code for an error, and the message to print (none for a closed output). */
export function exitFor(tool: string, err: unknown): { code: number; message?: string } {
  if (err instanceof OutputClosed) return { code: 0 };
  if (err instanceof Interrupted) {
    const kept = err.kept.length ? `; ${err.kept.join(', ')} kept, run again to resume` : '';
    return { code: err.exitCode, message: `${tool}: interrupted${kept}` };
  }
  if (err instanceof UsageError) return { code: 2, message: `${tool}: ${errorText(err)}` };
  if (err instanceof DataError) return { code: 1, message: `${tool}: ${err.where}: ${errorText(err)}` };
  const code = (err as { exitCode?: number }).exitCode;
  return { code: code === 2 ? 2 : 1, message: `${tool}: ${errorText(err)}` };
}

/** Run a bin's main function and exit with the conventional code once stdout is flushed. */
export function runTool(tool: string, main: () => Promise<void>): void {
  installSignalHandlers();
  main().then(
    () => finish(0),
    (err: unknown) => {
      const { code, message } = exitFor(tool, err);
      if (message) process.stderr.write(message + '\n');
      if (process.env.CT_DEBUG && err instanceof Error) process.stderr.write(String(err.stack) + '\n');
      finish(code);
    },
  );
}

function finish(code: number): void {
  process.exitCode = code;
  // Let stdout drain (pipes are asynchronous), then exit even if a socket or stdin is still open.
  if (process.stdout.writableLength === 0 || process.stdout.destroyed) {
    process.exit(code);
  }
  process.stdout.write('', () => process.exit(code));
  process.stdout.once('error', () => process.exit(code));
}
