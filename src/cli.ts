/**
 * What every bin shares: the option parser set-up, the common record I/O options, and the mapping of
 * errors to exit codes (0 ok or EPIPE, 1 runtime or data error, 2 usage error) and `tool: where: what`.
 */
import { readFileSync } from 'node:fs';
import yargs, { type Argv } from 'yargs';
import { DataError, OutputClosed, UsageError, errorText } from './io/errors.js';
import { noInput, openInput, type Format, type Input, type InputOptions } from './io/input.js';
import { RecordWriter } from './io/output.js';
import { Progress } from './io/progress.js';
import { redactOptions } from './io/redact.js';
import { Rejects } from './io/rejects.js';

export const VERSION: string = (
  JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }
).version;

/** Help text width is fixed so the README reference generated from `--help` does not depend on the terminal. */
export const HELP_WIDTH = 100;

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
    .wrap(HELP_WIDTH)
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
    .positional('input', { type: 'string', default: '-', describe: 'input file (NDJSON or Arrow, detected); - = stdin' })
    .option('out', { alias: 'o', type: 'string', describe: 'write records to FILE (atomically) instead of stdout', requiresArg: true })
    .option('format', { choices: ['ndjson', 'arrow'] as const, default: 'ndjson' as const, describe: 'output format' })
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
  const input = opts.noInput ? noInput() : await openInput(argv.input, undefined, opts.input);
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
    const summary = await fn({ tool, input, writer, rejects, progress });
    await writer.close();
    rejects.close();
    if (writer.stdoutClosed && writer.paths.length) {
      progress.stop();
      process.stderr.write(`${tool}: output pipe closed by its reader; kept writing ${writer.paths.join(', ')}\n`);
    }
    progress.summary(summary);
  } catch (err) {
    progress.stop();
    writer.abandon();
    rejects.abandon();
    throw err;
  }
}

/** Exit code for an error, and the message to print (none for a closed output). */
export function exitFor(tool: string, err: unknown): { code: number; message?: string } {
  if (err instanceof OutputClosed) return { code: 0 };
  if (err instanceof UsageError) return { code: 2, message: `${tool}: ${errorText(err)}` };
  if (err instanceof DataError) return { code: 1, message: `${tool}: ${err.where}: ${errorText(err)}` };
  const code = (err as { exitCode?: number }).exitCode;
  return { code: code === 2 ? 2 : 1, message: `${tool}: ${errorText(err)}` };
}

/** Run a bin's main function and exit with the conventional code once stdout is flushed. */
export function runTool(tool: string, main: () => Promise<void>): void {
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
