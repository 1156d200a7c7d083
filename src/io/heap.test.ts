import { test } from 'node:test';
import assert from 'node:assert/strict';
import { heapGrowingPercent } from './heap.js';

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
