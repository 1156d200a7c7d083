/**
 * Progress on stderr: a live bar (rate, ETA) when stderr is a TTY, plain lines every few seconds
 * otherwise, nothing with --quiet. The closing summary is printed by the tool through `summary`.
 */
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
}

export class Progress {
  private readonly bar: cliProgress.SingleBar | undefined;
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
    if (!opts.quiet && this.stream.isTTY) {
      this.bar = new cliProgress.SingleBar(
        {
          stream: this.stream,
          format: `${opts.tool} {bar} {percentage}% | {count} ${opts.unit ?? 'records'} | {rate}/s | ETA {eta_formatted} {detail}`,
          barsize: 24,
          hideCursor: true,
          clearOnComplete: true,
          etaBuffer: 50,
          fps: 5,
        },
        cliProgress.Presets.shades_classic,
      );
      this.bar.start(this.total ?? 0, 0, { count: 0, rate: '0', detail: '' });
    }
  }

  setTotal(total: number): void {
    this.total = total;
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
