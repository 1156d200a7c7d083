/**
 * Imported by the launchers of ct-fetch, ct-embed and ct-load (bin/ct-fetch, bin/ct-embed, bin/ct-load) before
 * they import the CLI: a small young generation from the start (src/io/heap.ts, YoungGeneration). Loading the CLI's modules alone grew the semi-spaces to 8 MB, so
 * this cannot wait for the CLI's first statement (static imports all load before any of them runs).
 */
import { youngGeneration } from './heap.js';

youngGeneration('small');
