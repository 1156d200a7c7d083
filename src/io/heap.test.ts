import { test } from 'node:test';
import assert from 'node:assert/strict';
import { heapGrowingPercent, YoungGeneration, youngGenerationTunable, type YoungSize } from './heap.js';

test('heap growing percent: 50 by default; the variable or a node flag of the user wins; 0 or nonsense leaves V8 alone', () => {
  assert.equal(heapGrowingPercent({}, []), 50);
  assert.equal(heapGrowingPercent({ CT_HEAP_GROWING_PERCENT: '' }, []), 50);
  assert.equal(heapGrowingPercent({ CT_HEAP_GROWING_PERCENT: '20' }, []), 20);
  assert.equal(heapGrowingPercent({ CT_HEAP_GROWING_PERCENT: '0' }, []), undefined);
  assert.equal(heapGrowingPercent({ CT_HEAP_GROWING_PERCENT: 'lots' }, []), undefined);
  assert.equal(heapGrowingPercent({ CT_HEAP_GROWING_PERCENT: '-5' }, []), undefined);
  assert.equal(heapGrowingPercent({}, ['--heap-growing-percent=80']), undefined);
  assert.equal(heapGrowingPercent({ CT_HEAP_GROWING_PERCENT: '20' }, ['--heap_growing_percent=80']), undefined);
  assert.equal(heapGrowingPercent({}, ['--max-old-space-size=512']), 50);
  assert.equal(heapGrowingPercent({}, [], 100), 100, "the tool's own default");
  assert.equal(heapGrowingPercent({ CT_HEAP_GROWING_PERCENT: '20' }, [], 100), 20);
  assert.equal(heapGrowingPercent({}, ['--heap-growing-percent=80'], 100), undefined);
});

test('young generation: tunable unless a semi-space flag of the user (command line or NODE_OPTIONS) or CT_SMALL_YOUNG_GENERATION=0', () => {
  assert.equal(youngGenerationTunable({}, []), true);
  assert.equal(youngGenerationTunable({ CT_SMALL_YOUNG_GENERATION: '1' }, []), true);
  assert.equal(youngGenerationTunable({ CT_SMALL_YOUNG_GENERATION: ' 0 ' }, []), false);
  assert.equal(youngGenerationTunable({}, ['--max-semi-space-size=64']), false);
  assert.equal(youngGenerationTunable({}, ['--min_semi_space_size=4']), false);
  assert.equal(youngGenerationTunable({ NODE_OPTIONS: '--enable-source-maps --semi-space-growth-factor=4' }, []), false);
  assert.equal(youngGenerationTunable({ NODE_OPTIONS: '--max-old-space-size=512' }, ['--heap-growing-percent=80']), true);
  // the heap growing percent reads NODE_OPTIONS too
  assert.equal(heapGrowingPercent({ NODE_OPTIONS: '--heap-growing-percent=80' }, []), undefined);
});

test('young generation policy: small from the start and while texts are batched; grown up to a cap while every record read is cached; the end of the input changes nothing', () => {
  const calls: YoungSize[] = [];
  let counts = { read: 0, texts: 0 };
  const young = new YoungGeneration(() => counts, 4, (size) => calls.push(size));
  const write = (n: number) => {
    for (let i = 0; i < n; i++) young.record();
  };
  assert.deepEqual(calls, ['small']);
  counts = { read: 6, texts: 5 };
  write(3);
  assert.deepEqual(calls, ['small'], 'no look before `every` records');
  write(1);
  assert.deepEqual(calls, ['small', 'small'], 'texts were batched: small');
  counts = { read: 12, texts: 5 };
  write(4);
  assert.deepEqual(calls, ['small', 'small', 'capped'], 'records read, no text batched: grown up to the cap');
  write(4);
  assert.deepEqual(calls, ['small', 'small', 'capped'], 'nothing read (the last records are written): unchanged');
  counts = { read: 13, texts: 6 };
  write(4);
  assert.deepEqual(calls, ['small', 'small', 'capped', 'small'], 'texts again: small');
});

test('the capped young generation stops growing at 8 MB semi-spaces, in a process of its own', async () => {
  // A fresh node whose young generation would grow to 16 MB semi-spaces under this allocation (survivors
  // kept a while); capped, new_space stays at 16 MB (two semi-spaces of 8 MB), and the process still exits.
  const { execFileSync } = await import('node:child_process');
  const code = `
    import { youngGeneration } from ${JSON.stringify(new URL('./heap.js', import.meta.url).href)};
    import { getHeapSpaceStatistics } from 'node:v8';
    const size = () => getHeapSpaceStatistics().find((s) => s.space_name === 'new_space').space_size;
    const grow = async () => {
      let max = 0, keep = [];
      for (let i = 0; i < 3000; i++) {
        keep.push(Array.from({ length: 2000 }, (_, k) => ({ k, s: 'x' + k })));
        if (keep.length > 40) keep = keep.slice(20);
        if (i % 50 === 0) await new Promise((r) => setImmediate(r));
        max = Math.max(max, size());
      }
      return max;
    };
    youngGeneration(process.argv[1]);
    process.stdout.write(String(await grow()));
  `;
  const run = (mode: string) =>
    Number(execFileSync(process.execPath, ['--input-type=module', '-e', code, mode], { env: { ...process.env, NODE_OPTIONS: '' }, encoding: 'utf8' }));
  const MB = 1 << 20;
  assert.ok(run('v8') > 16 * MB, 'the allocation grows the young generation beyond the cap (else this test proves nothing)');
  assert.ok(run('capped') <= 16 * MB, 'capped at two semi-spaces of 8 MB');
  assert.ok(run('small') <= 2 * MB);
});
