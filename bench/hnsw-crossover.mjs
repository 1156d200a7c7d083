#!/usr/bin/env node
/**
 * HNSW: keep the index and let Postgres maintain it, or drop it and rebuild after the load? (Not a test.)
 * A table of N rows with random D-dimensional vectors and an HNSW cosine index; then, for each fraction f,
 * f·N rows get new vectors (an UPDATE from a staging table, as ct-load's merge does) in two ways:
 *   kept:    with the index in place (Postgres inserts each new row version into the graph);
 *   rebuilt: DROP INDEX, the same UPDATE, CREATE INDEX (maintenance_work_mem as ct-load chooses).
 * Prints seconds for both and their ratio; the crossover is where they meet. ct-load's REBUILD_FRACTION
 * (src/load/index.ts) comes from these figures.
 * Usage: DATABASE_URL=postgres://… node bench/hnsw-crossover.mjs   (BENCH_ROWS, BENCH_DIMS, BENCH_FRACTIONS)
 */
import pg from 'pg';

const url = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const N = Number(process.env.BENCH_ROWS ?? 10_000);
const D = Number(process.env.BENCH_DIMS ?? 1536);
const FRACTIONS = (process.env.BENCH_FRACTIONS ?? '0.01,0.05,0.1,0.2,0.4').split(',').map(Number);
const T = 'ct_bench_hnsw';
const mem = `${Math.min(1024, Math.max(64, Math.ceil((N * D * 8) / (1 << 20))))}MB`;

const db = new pg.Client({ connectionString: url });
await db.connect();
const time = async (fn) => {
  const t = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - t) / 1e9;
};
const vectors = (n) => `SELECT g AS id, (SELECT array_agg(random()::real - 0.5) FROM generate_series(1, ${D}) WHERE g > 0)::vector(${D}) AS v FROM generate_series(1, ${n}) g`;
const build = () => db.query(`CREATE INDEX ${T}_ix ON ${T} USING hnsw (v vector_cosine_ops)`);

await db.query('CREATE EXTENSION IF NOT EXISTS vector');
await db.query(`SET maintenance_work_mem = '${mem}'`);
await db.query(`DROP TABLE IF EXISTS ${T}, ${T}_new`);
await db.query(`CREATE TABLE ${T} (id int PRIMARY KEY, v vector(${D}))`);
await db.query(`INSERT INTO ${T} ${vectors(N)}`);
const first = await time(build);
console.log(`${N} rows × ${D} dims; first HNSW build ${first.toFixed(1)} s (maintenance_work_mem ${mem})`);
console.log('fraction  rows    kept (s)  rebuilt (s)  kept/rebuilt');
for (const f of FRACTIONS) {
  const k = Math.round(N * f);
  await db.query(`DROP TABLE IF EXISTS ${T}_new`);
  await db.query(`CREATE TABLE ${T}_new AS ${vectors(k)}`);
  const update = () => db.query(`UPDATE ${T} t SET v = n.v FROM ${T}_new n WHERE t.id = n.id`);
  const kept = await time(update);
  await db.query(`VACUUM ${T}`);
  const rebuilt = await time(async () => {
    await db.query(`DROP INDEX ${T}_ix`);
    await update();
    await build();
  });
  await db.query(`VACUUM ${T}`);
  console.log(`${f.toFixed(2).padStart(8)}  ${String(k).padEnd(6)}  ${kept.toFixed(1).padStart(8)}  ${rebuilt.toFixed(1).padStart(11)}  ${(kept / rebuilt).toFixed(2).padStart(12)}`);
}
await db.query(`DROP TABLE IF EXISTS ${T}, ${T}_new`);
await db.end();
