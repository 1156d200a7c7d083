/** Errors that the CLI wrapper maps to exit codes and `tool: where: what` messages. */
import { redactUrl } from './redact.js';

/** A problem with the command line or the options: exit 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

/** A bad record or bad input at a known position: exit 1, message `tool: where: reason`. */
export class DataError extends Error {
  override name = 'DataError';
  constructor(
    readonly where: string,
    message: string,
  ) {
    super(message);
  }
}

/** A runtime failure (network, database, file system): exit 1. */
export class RuntimeError extends Error {
  override name = 'RuntimeError';
}

/** The reader of our stdout went away (EPIPE) and there is nothing left worth doing: exit 0. */
export class OutputClosed extends Error {
  override name = 'OutputClosed';
  constructor() {
    super('output closed by the reader');
  }
}

/** One line, no stack, no password or key in a URL: what a user sees after `tool: `. */
export function errorText(err: unknown): string {
  if (err instanceof Error) return redactUrl(err.message.replace(/\s*\n\s*/g, ' ').trim()) || err.name;
  return redactUrl(String(err));
}
