// Shared by the benchmarks (never tests): spawn a command, time it, and read its peak RSS from /usr/bin/time -v.
import { spawn } from 'node:child_process';
import { createReadStream, createWriteStream, existsSync, readFileSync } from 'node:fs';
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

/** The value after `--name` on the command line, else `dflt`. */
export function arg(name, dflt) {
  const i = process.argv.indexOf(`--${name}`);
  return i === -1 ? dflt : process.argv[i + 1];
}

/** Dates shifted by `days` days in a study's JSON text (`"YYYY-MM-DD"` values). */
function shiftDates(line, days) {
  if (days === 0) return line;
  return line.replace(/"(\d{4})-(\d{2})-(\d{2})"/g, (m, y, mo, d) => {
    const t = new Date(Date.UTC(+y, +mo - 1, +d + days));
    return Number.isNaN(t.getTime()) ? m : `"${t.toISOString().slice(0, 10)}"`;
  });
}

/**
 * Write `n` studies to `path`: the real ones of `fixture` replicated with new NCT ids (NCT9…), and with
 * `shift` each copy's dates one day later than the previous copy's. Returns how many real studies there are.
 */
export async function writeReplicatedStudies(fixture, path, n, { shift = false } = {}) {
  const base = readFileSync(fixture, 'utf8').split('\n').filter((l) => l.trim());
  const out = createWriteStream(path);
  for (let i = 0; i < n; i++) {
    const s = JSON.parse(shift ? shiftDates(base[i % base.length], Math.floor(i / base.length)) : base[i % base.length]);
    s.protocolSection.identificationModule.nctId = `NCT9${String(i).padStart(7, '0')}`;
    if (!out.write(JSON.stringify(s) + '\n')) await once(out, 'drain');
  }
  out.end();
  await once(out, 'finish');
  return base.length;
}

/**
 * The environment for a `psql` reference that compresses large values as ct-load's sessions do (lz4 where
 * the server has it and nobody chose a method: see preferLz4 in src/load/connection.ts), so that the
 * comparison is of the same server work. `client` is a connected pg client.
 */
export async function sameCompression(client) {
  const { rows } = await client.query(
    `SELECT 1 FROM pg_settings WHERE name = 'default_toast_compression' AND source = 'default' AND 'lz4' = ANY (enumvals)`,
  );
  return rows.length ? { PGOPTIONS: `${process.env.PGOPTIONS ?? ''} -c default_toast_compression=lz4`.trim() } : {};
}
