/**
 * SIGINT and SIGTERM: the first one asks the tool to stop — the input stops yielding records (the unit in
 * progress, e.g. a COPY batch in flight, is finished or rolled back by its owner), requests and waits are
 * aborted through `interruption.signal` — and the tool then exits 130 (SIGINT) or 143 (SIGTERM) with one line
 * saying what was kept. A second signal exits at once. Tools that never asked for a graceful stop
 * (`gracefulStop()`) exit at once on the first.
 */
import type { Input } from './input.js';

export class Interrupted extends Error {
  override name = 'Interrupted';
  /** Partial files the run leaves for a later one (set by the record I/O wrapper). */
  kept: string[] = [];
  constructor(readonly signal: NodeJS.Signals) {
    super(`interrupted by ${signal}`);
  }

  /** 128 + the signal number, as shells report it. */
  get exitCode(): number {
    return this.signal === 'SIGTERM' ? 143 : 130;
  }
}

export const interruption = new AbortController();
let graceful = false;
let installed = false;

/** Show the cursor again (a progress bar hides it) when stderr is a terminal. */
export function restoreTerminal(stream: NodeJS.WriteStream = process.stderr): void {
  if (stream.isTTY) stream.write('\x1b[?25h');
}

/** Catch SIGINT and SIGTERM for the life of the process (runTool does this once). */
export function installSignalHandlers(): void {
  if (installed) return;
  installed = true;
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.on(sig, () => {
      const err = new Interrupted(sig);
      if (!graceful || interruption.signal.aborted) {
        restoreTerminal();
        process.exit(err.exitCode);
      }
      interruption.abort(err);
    });
  }
}

/** This tool stops cleanly on the first signal (it reads its input through `stopOnSignal`). */
export function gracefulStop(): void {
  graceful = true;
}

/** Throws the Interrupted error if a signal came. */
export function checkInterrupted(): void {
  if (interruption.signal.aborted) throw interruption.signal.reason;
}

/**
 * The same input, which throws Interrupted at the next read after a signal, even while waiting for bytes.
 * One abort listener rejects the read in flight. (Not `Promise.race` with a promise that never settles: every
 * race leaves a reaction on that promise holding its result, so each record read would be kept until exit.)
 */
export function stopOnSignal(input: Input, signal: AbortSignal = interruption.signal): Input {
  let rejectRead: ((reason: unknown) => void) | undefined;
  if (!signal.aborted) signal.addEventListener('abort', () => rejectRead?.(signal.reason), { once: true });
  return {
    get name() {
      return input.name;
    },
    get format() {
      return input.format;
    },
    get sizeBytes() {
      return input.sizeBytes;
    },
    get bytesRead() {
      return input.bytesRead;
    },
    parseInWorkers(spec) {
      return input.parseInWorkers?.(spec) ?? false;
    },
    [Symbol.asyncIterator]() {
      const it = input[Symbol.asyncIterator]();
      return {
        next() {
          if (signal.aborted) return Promise.reject(signal.reason);
          return new Promise((resolve, reject) => {
            rejectRead = reject;
            it.next().then(
              (r) => {
                rejectRead = undefined;
                resolve(r);
              },
              (err: unknown) => {
                rejectRead = undefined;
                reject(err);
              },
            );
          });
        },
        async return(value?: unknown) {
          return (await it.return?.(value)) ?? { done: true as const, value: undefined };
        },
      };
    },
  } as Input;
}
