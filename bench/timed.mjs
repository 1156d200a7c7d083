// Shared by the benchmarks (never tests): spawn a command, time it, and read its peak RSS from /usr/bin/time -v.
import { spawn } from 'node:child_process';
import { createReadStream, createWriteStream, existsSync } from 'node:fs';
import { once } from 'node:events';

/** Spawn and time a command; with /usr/bin/time -v also its peak RSS. stdout goes to `stdoutFile` or nowhere. */
export async function timed(cmd, args, { stdinFile, stdoutFile, env } = {}) {
  const useTime = existsSync('/usr/bin/time');
  const childEnv = { ...process.env, ...env };
  for (const [k, v] of Object.entries(childEnv)) if (v === null) delete childEnv[k]; // null: unset it
  const started = process.hrtime.bigint();
  const child = spawn(useTime ? '/usr/bin/time' : cmd, useTime ? ['-v', cmd, ...args] : args, {
    env: childEnv,
    stdio: [stdinFile ? 'pipe' : 'ignore', stdoutFile ? 'pipe' : 'ignore', 'pipe'],
  });
  if (stdinFile) createReadStream(stdinFile).pipe(child.stdin);
  if (stdoutFile) child.stdout.pipe(createWriteStream(stdoutFile));
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  const [code] = await once(child, 'close');
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  if (code !== 0) throw new Error(`${cmd} exited ${code}: ${stderr.slice(-2000)}`);
  const rss = /Maximum resident set size \(kbytes\): (\d+)/.exec(stderr);
  return { seconds, rssMB: rss ? Number(rss[1]) / 1024 : undefined, stderr };
}
