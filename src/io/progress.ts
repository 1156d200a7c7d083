/**
 * Progress on stderr: a live bar (rate, ETA) when stderr is a TTY and the tool has the terminal line to
 * itself; plain lines every few seconds otherwise, nothing with --quiet. In a pipeline on a terminal
 * (`ct-prepare … | ct-embed …`: stdin or stdout is a pipe) every tool would redraw the same line, so each
 * prints its own plain lines instead, named by tool. Without a known total there is no bar, share or ETA,
 * only counts and rate. The closing summary is printed by the tool through `summary`.
 */
import { fstatSync } from 'node:fs';
import cliProgress from 'cli-progress';

export interface ProgressOptions {
  tool: string;
  quiet?: boolean;
  /** What is counted, e.g. `records`. */
  unit?: string;
  /** Total, when known (records or bytes, see `byBytes`). */
  total?: number;
  /** The bar tracks input bytes (a file of known size) while the text counts records. */
  byBytes?: boolean;
  /** Seconds between plain lines when stderr is not a TTY. */
  intervalSeconds?: number;
  stream?: NodeJS.WriteStream;
  /** The tool is part of a pipeline (default: stdin or stdout is a pipe or socket). */
  inPipeline?: boolean;
}

/** True when fd is a pipe, FIFO or socket (another program is on the other end). */
function isPipe(fd: number): boolean {
  try {
    const st = fstatSync(fd);
    return st.isFIFO() || st.isSocket();
  } catch {
    return false;
  }
}

export const inPipeline = (): boolean => isPipe(0) || isPipe(1);

export class Progress {
  private bar: cliProgress.SingleBar | undefined;
  private readonly stream: NodeJS.WriteStream;
  private readonly started = Date.now();
  private lastLine = Date.now();
  private count = 0;
  private position = 0;
  private detail = '';
  private readonly interval: number;
  private total: number | undefined;

  constructor(private readonly opts: ProgressOptions) {
    this.stream = opts.stream ?? process.stderr;
    this.interval = (opts.intervalSeconds ?? 5) * 1000;
    this.total = opts.total;
    if (!opts.quiet && this.stream.isTTY && !(opts.inPipeline ?? inPipeline())) this.bar = this.makeBar();
  }

  private makeBar(): cliProgress.SingleBar {
    const unit = this.opts.unit ?? 'records';
    // No cli-progress ETA: it prints `NULL` (cut to `LLs`) when it cannot tell; tools put theirs in the detail.
    const format = this.total
      ? `${this.opts.tool} {bar} {percentage}% | {count} ${unit} | {rate}/s {detail}`
      : `${this.opts.tool} {count} ${unit} | {rate}/s {detail}`;
    const bar = new cliProgress.SingleBar(
      { stream: this.stream, format, barsize: 24, hideCursor: true, clearOnComplete: true, fps: 5 },
      cliProgress.Presets.shades_classic,
    );
    bar.start(this.total ?? 0, 0, { count: 0, rate: '0', detail: '' });
    return bar;
  }

  setTotal(total: number): void {
    const had = this.total;
    this.total = total;
    if (this.bar && !had) {
      // From counting to a bar with a share: start the bar again in its known-total form.
      this.bar.stop();
      this.bar = this.makeBar();
    }
    this.bar?.setTotal(total);
  }

  /** Records counted so far; `position` is the bar position (bytes read when `byBytes`). */
  update(count: number, position: number = count, detail = ''): void {
    this.count = count;
    this.position = position;
    this.detail = detail;
    if (this.opts.quiet) return;
    const secs = (Date.now() - this.started) / 1000;
    const rate = secs > 0 ? Math.round(count / secs) : 0;
    if (this.bar) {
      this.bar.update(position, { count, rate: String(rate), detail });
    } else if (Date.now() - this.lastLine >= this.interval) {
      this.lastLine = Date.now();
      const of = this.total && !this.opts.byBytes ? `/${this.total}` : '';
      const pct = this.total ? ` (${Math.min(100, Math.floor((100 * position) / this.total))}%)` : '';
      this.stream.write(
        `${this.opts.tool}: ${count}${of} ${this.opts.unit ?? 'records'}${pct}, ${rate}/s${detail ? ', ' + detail : ''}\n`,
      );
    }
  }

  /** Stop the bar (clears it) before the summary or an error is printed. */
  stop(): void {
    this.bar?.stop();
  }

  get seconds(): number {
    return (Date.now() - this.started) / 1000;
  }

  /** Print the closing one-line summary (unless quiet). */
  summary(text: string): void {
    this.stop();
    if (!this.opts.quiet) this.stream.write(`${this.opts.tool}: ${text}\n`);
  }
}

/** `12.3 s` style seconds. */
export const fmtSeconds = (s: number): string => `${s < 10 ? s.toFixed(2) : s.toFixed(1)} s`;

