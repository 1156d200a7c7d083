/**
 * A parsing worker (see ndjson-parallel.ts): takes chunks of whole NDJSON lines and sends back their records,
 * parsed and shaped by parseChunk (ndjson-shape.ts). Parsing 1536 numbers and a study's nested `raw` per
 * line was most of ct-load's time from NDJSON; here it runs on another core.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { ChunkJob, WorkerParse } from './ndjson-parallel.js';
import { parseChunk, shapeOf } from './ndjson-shape.js';

const spec = shapeOf(workerData as WorkerParse);

parentPort!.on('message', (job: ChunkJob) => {
  parentPort!.postMessage(parseChunk(job, spec));
});
