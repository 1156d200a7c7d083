#!/usr/bin/env bash
# make demo: the whole pipeline offline on the bundled sample. A local mock of the ClinicalTrials.gov API
# serves test/fixtures/studies.ndjson to the real ct-fetch; embeddings come from the offline `hash` provider;
# the table lives in PGlite (no database server). Then ct-search answers a sample query.
set -euo pipefail
cd "$(dirname "$0")/.."
DEMO_DIR=${DEMO_DIR:-checkpoints/demo}
PGLITE_DIR=${DEMO_PGLITE_DIR:-data/demo-pglite}
mkdir -p "$DEMO_DIR"
port_file=$(mktemp)
node dist/test/mocks/ctgov-mock.js --data test/fixtures/studies.ndjson --port 0 --port-file "$port_file" > /dev/null &
mock=$!
trap 'kill $mock 2>/dev/null || true; rm -f "$port_file"' EXIT
for _ in $(seq 100); do [ -s "$port_file" ] && break; sleep 0.1; done
[ -s "$port_file" ] || { echo "demo: the mock API did not start" >&2; exit 1; }
api="http://127.0.0.1:$(cat "$port_file")/api/v2"
echo "demo: mock ClinicalTrials.gov API at $api (the bundled sample of $(wc -l < test/fixtures/studies.ndjson) studies)" >&2
# CT_API_SOURCE names the data without the mock's random port, so a second demo re-runs no step.
env -u DATABASE_URL -u PGHOST -u PGDATABASE make load CHECKPOINT_DIR="$DEMO_DIR" CT_API_URL="$api" START_YEAR= \
  CT_API_SOURCE="mock:test/fixtures/studies.ndjson" EMBED_PROVIDER=hash DATABASE_URL= PGLITE_DIR="$PGLITE_DIR" FETCH_FLAGS='--rate 20'
echo >&2
for q in "EGFR mutation non-small cell lung cancer" "lumbar disc herniation surgery"; do
  env -u DATABASE_URL -u PGHOST -u PGDATABASE bin/ct-search "$q" --pglite-dir "$PGLITE_DIR" --limit 5 --format table
done
echo "demo: checkpoints in $DEMO_DIR (make checkpoints CHECKPOINT_DIR=$DEMO_DIR), table in PGlite at $PGLITE_DIR" >&2
echo "demo: search it yourself: bin/ct-search \"asthma in children\" --pglite-dir $PGLITE_DIR" >&2
