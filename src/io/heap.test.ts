import { test } from 'node:test';
import assert from 'node:assert/strict';
import { heapGrowingPercent, YoungGeneration, youngGenerationTunable } from './heap.js';

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

test('young generation policy: small from the start and while texts are batched; V8 grows it while every record read is cached; the end of the input changes nothing', () => {
  const calls: boolean[] = [];
  let counts = { read: 0, texts: 0 };
  const young = new YoungGeneration(() => counts, 4, (small) => calls.push(small));
  const write = (n: number) => {
    for (let i = 0; i < n; i++) young.record();
  };
  assert.deepEqual(calls, [true]);
  counts = { read: 6, texts: 5 };
  write(3);
  assert.deepEqual(calls, [true], 'no look before `every` records');
  write(1);
  assert.deepEqual(calls, [true, true], 'texts were batched: small');
  counts = { read: 12, texts: 5 };
  write(4);
  assert.deepEqual(calls, [true, true, false], 'records read, no text batched: V8 grows it');
  write(4);
  assert.deepEqual(calls, [true, true, false], 'nothing read (the last records are written): unchanged');
  counts = { read: 13, texts: 6 };
  write(4);
  assert.deepEqual(calls, [true, true, false, true], 'texts again: small');
});
