// Smoke test for the local PostgreSQL + pgvector setup (scripts/setup-pgvector.sh).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';

const DATABASE_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

test('pgvector is usable in the database', async () => {
  const client = new pg.Client({ connectionString: DATABASE_URL, connectionTimeoutMillis: 10_000 });
  await client.connect();
  try {
    await client.query('CREATE EXTENSION IF NOT EXISTS vector');
    const { rows } = await client.query<{ distance: number }>(
      "SELECT ('[1,2,3]'::vector <=> '[1,2,4]'::vector)::float8 AS distance",
    );
    assert.equal(rows.length, 1);
    const distance = rows[0]!.distance;
    assert.equal(typeof distance, 'number');
    assert.ok(Number.isFinite(distance), `distance is not finite: ${distance}`);
    assert.ok(distance > 0 && distance < 1, `cosine distance ${distance} is not between 0 and 1`);
  } finally {
    await client.end();
  }
});
