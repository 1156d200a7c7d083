import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { acquireLock, processStart, type LockHolder } from './lock.js';

const tmp = mkdtempSync(join(tmpdir(), 'ct-lock-test-'));
after(() => rmSync(tmp, { recursive: true, force: true }));
const lockModule = fileURLToPath(new URL('./lock.js', import.meta.url));
let n = 0;
const lockFile = () => join(tmp, `lock-${++n}`);
const holderOf = (file: string) => JSON.parse(readFileSync(file, 'utf8')) as LockHolder;

/** A pid that ran a moment ago and has exited. */
function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
  return Number(r.stdout);
}

test('a lock names its holder; a second process is refused at once, naming it', async () => {
  const file = lockFile();
  const lock = acquireLock(file, { tool: 'ct-load', what: 'data/pglite' });
  const h = holderOf(file);
  assert.equal(h.pid, process.pid);
  assert.equal(h.tool, 'ct-load');
  assert.equal(h.host, hostname());
  const script = `import { acquireLock } from ${JSON.stringify(lockModule)};
    try { acquireLock(${JSON.stringify(file)}, { tool: 'ct-search', what: 'data/pglite', hint: 'wait' }); console.log('taken'); }
    catch (e) { console.log(e.message); }`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
  assert.match(r.stdout, new RegExp(`^data/pglite is in use by ct-load, pid ${process.pid} \\(since \\d\\d:\\d\\d:\\d\\d UTC\\); wait\\n$`));
  // Re-entrant within one process: the lock goes when the last holder releases it.
  const again = acquireLock(file, { tool: 'ct-load', what: 'data/pglite' });
  again.release();
  assert.ok(existsSync(file));
  lock.release();
  assert.ok(!existsSync(file));
});

test('a lock left by a process that is gone is taken over, and says so', () => {
  const file = lockFile();
  const pid = deadPid();
  writeFileSync(file, JSON.stringify({ pid, tool: 'ct-load', host: hostname(), since: '2026-01-01T00:00:00.000Z' }));
  const notes: string[] = [];
  const lock = acquireLock(file, { tool: 'ct-load', what: 'data/pglite', log: (m) => notes.push(m) });
  assert.equal(holderOf(file).pid, process.pid);
  assert.deepEqual(notes, [`data/pglite: took over the lock of ct-load, pid ${pid} (since 00:00:00 UTC), which no longer runs`]);
  lock.release();
});

test('a reused pid (alive, other start time) and an unreadable lock file are taken over', () => {
  const file = lockFile();
  // Our parent runs, but it did not start at "1": the lock is not its.
  assert.ok(processStart(process.ppid) !== undefined, 'this test needs /proc');
  writeFileSync(file, JSON.stringify({ pid: process.ppid, tool: 'ct-load', started: '1', host: hostname(), since: '' }));
  acquireLock(file, { tool: 't', what: 'x' }).release();
  writeFileSync(file, '');
  acquireLock(file, { tool: 't', what: 'x' }).release();
  assert.ok(!existsSync(file));
  // The same pid with its real start time is alive: refused.
  writeFileSync(file, JSON.stringify({ pid: process.ppid, tool: 'make', started: processStart(process.ppid), host: hostname(), since: '' }));
  assert.throws(() => acquireLock(file, { tool: 't', what: 'x' }), new RegExp(`^RuntimeError: x is in use by make, pid ${process.ppid}$`));
  // A lock from another host is never judged from here.
  writeFileSync(file, JSON.stringify({ pid: deadPid(), tool: 'ct-load', host: 'elsewhere', since: '' }));
  assert.throws(() => acquireLock(file, { tool: 't', what: 'x' }), /x is in use by ct-load, pid \d+ on elsewhere$/);
  rmSync(file);
});

test('a SIGKILLed holder leaves its lock behind; the next process takes it over', async () => {
  const file = lockFile();
  const script = `import { acquireLock } from ${JSON.stringify(lockModule)};
    acquireLock(${JSON.stringify(file)}, { tool: 'ct-load', what: 'd' }); console.log('locked'); setInterval(() => {}, 1000);`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
  assert.throws(() => acquireLock(file, { tool: 't', what: 'd' }), new RegExp(`d is in use by ct-load, pid ${child.pid}`));
  child.kill('SIGKILL');
  await new Promise((resolve) => child.once('exit', resolve));
  assert.equal(holderOf(file).pid, child.pid, 'the killed process could not remove its lock');
  const lock = acquireLock(file, { tool: 't', what: 'd' });
  assert.equal(holderOf(file).pid, process.pid);
  lock.release();
});

test('many processes racing for one stale lock: exactly one gets it', async () => {
  const file = lockFile();
  writeFileSync(file, JSON.stringify({ pid: deadPid(), tool: 'ct-load', host: hostname(), since: '' }));
  const script = `import { acquireLock } from ${JSON.stringify(lockModule)};
    try { acquireLock(${JSON.stringify(file)}, { tool: 'racer', what: 'd' }); console.log('got'); setTimeout(() => {}, 4000); }
    catch (e) { console.log(e.message.includes('in use by racer') ? 'refused' : e.message); }`;
  const outs = await Promise.all(
    Array.from({ length: 6 }, () =>
      new Promise<string>((resolve) => {
        const c = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
        let out = '';
        c.stdout.on('data', (d) => (out += d));
        c.on('close', () => resolve(out.trim()));
      }),
    ),
  );
  assert.deepEqual(outs.sort(), ['got', 'refused', 'refused', 'refused', 'refused', 'refused']);
});

test('a holder that was SIGKILLed and not reaped (a zombie) holds nothing: its lock is taken over', async () => {
  const file = lockFile();
  const script = `import { acquireLock } from ${JSON.stringify(lockModule)};
    acquireLock(${JSON.stringify(file)}, { tool: 'ct-embed', what: 'd' }); console.log('locked'); setInterval(() => {}, 1000);`;
  // The holder's parent becomes `sleep`, which never waits for it: once killed, it stays a zombie.
  const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  const parent = spawn('sh', ['-c', `${q(process.execPath)} --input-type=module -e ${q(script)} & echo $!; exec sleep 30`], { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    let out = '';
    await new Promise<void>((resolve) => parent.stdout.on('data', (d) => ((out += d), out.includes('locked') && resolve())));
    const pid = Number(out.split('\n')[0]);
    assert.equal(holderOf(file).pid, pid);
    process.kill(pid, 'SIGKILL');
    for (let i = 0; i < 200 && !readFileSync(`/proc/${pid}/stat`, 'utf8').includes(') Z'); i++) await new Promise((r) => setTimeout(r, 10));
    assert.match(readFileSync(`/proc/${pid}/stat`, 'utf8'), /\) Z /, 'a zombie: its pid still answers kill -0');
    const lock = acquireLock(file, { tool: 't', what: 'd' });
    assert.equal(holderOf(file).pid, process.pid);
    lock.release();
  } finally {
    parent.kill('SIGKILL');
  }
});
