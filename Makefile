# ct-pipeline — build, test and run the pipeline with make.
#
#   make demo      the whole pipeline offline on the bundled sample (mock API, hash embeddings, PGlite)
#   make test      install what is needed, build, run every test
#   make load      fetch → prepare → embed → load, resuming from whatever finished checkpoints exist
#   make help      the variables and targets
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DELETE_ON_ERROR:
MAKEFLAGS += --no-builtin-rules --no-print-directory
.DEFAULT_GOAL := all

# ---------------------------------------------------------------------------------------------------------
# Set-up: dependencies (npm ci, only when package-lock.json changed) and the TypeScript build.
DEPS_STAMP := node_modules/.ct-pipeline-deps
SOURCES := $(shell find bin src test -name '*.ts' 2>/dev/null) tsconfig.json
BUILD_STAMP := dist/.build-stamp

.PHONY: all deps build test bench demo help fetch prepare embed load update checkpoints clean-checkpoints clean clean-cache FORCE

deps: $(DEPS_STAMP)
$(DEPS_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

build: $(BUILD_STAMP)
$(BUILD_STAMP): $(DEPS_STAMP) $(SOURCES)
	@rm -rf dist # no stale output of deleted sources (tsc rebuilds everything anyway)
	npx tsc -p tsconfig.json
	@touch $@

## test: install what is needed (npm packages, pgvector in the local PostgreSQL), build, run all tests
test: build
	scripts/setup-pgvector.sh
	npm test

## bench: benchmarks (not tests): ct-load against psql \copy, ct-embed against an instant mock
bench: build
	scripts/setup-pgvector.sh
	node bench/load-bench.mjs
	node bench/embed-bench.mjs

## bench-scale: registry-scale benchmark, N (default 10000) replicated studies through every step (not a test)
.PHONY: bench-scale
bench-scale: build
	scripts/setup-pgvector.sh
	node bench/scale.mjs --n $(or $(N),10000)

## demo: the whole pipeline offline on the bundled sample, then a search (no network, key or server)
demo: build
	scripts/demo.sh

# ---------------------------------------------------------------------------------------------------------
# The pipeline. Every step writes its checkpoint atomically (FILE.partial until it is complete), so after any
# failure `make load` re-runs only what is missing or out of date.
CHECKPOINT_DIR ?= checkpoints
CK := $(CHECKPOINT_DIR)
FORMAT ?= ndjson
EXT := $(if $(filter arrow,$(FORMAT)),arrow,ndjson)
NUM_RECORDS ?=
START_YEAR ?= 2014
QUERY ?=
CONDITION ?=
STATUS ?=
CT_API_URL ?=
DATABASE_URL ?=
TABLE ?= clinical_trials
PGLITE_DIR ?= data/pglite
EMBED_PROVIDER ?=
EMBED_MODEL ?=
DIMENSIONS ?=
EMBED_CACHE ?= $(CK)/embed-cache
NO_EMBEDDINGS ?=
SKIP_EXISTING ?=
INDEX ?= hnsw
KEEP ?= 3
# Extra flags passed as they are, e.g. FETCH_FLAGS='--rate 2' EMBED_FLAGS='--concurrency 8'
FETCH_FLAGS ?=
PREPARE_FLAGS ?=
EMBED_FLAGS ?=
LOAD_FLAGS ?=

q = '$(subst ','\'',$(1))'
DB_ARGS := $(if $(DATABASE_URL),--database-url $(call q,$(DATABASE_URL)),--pglite-dir $(call q,$(PGLITE_DIR))) --table $(call q,$(TABLE))
# The database's identity without its password, for the parameter files.
DB_ID := $(if $(DATABASE_URL),$(shell printf '%s' $(call q,$(DATABASE_URL)) | sha256sum | cut -c1-16),pglite:$(PGLITE_DIR))/$(TABLE)

FETCH_ARGS := $(if $(CT_API_URL),--base-url $(call q,$(CT_API_URL))) $(if $(QUERY),--query $(call q,$(QUERY))) \
  $(if $(CONDITION),--condition $(call q,$(CONDITION))) $(if $(STATUS),--status $(call q,$(STATUS))) \
  $(if $(START_YEAR),--start-year $(START_YEAR)) $(if $(NUM_RECORDS),--num-records $(NUM_RECORDS)) $(FETCH_FLAGS)
PREPARE_ARGS := $(if $(START_YEAR),--start-year $(START_YEAR)) $(if $(SKIP_EXISTING),--skip-existing $(DB_ARGS)) $(PREPARE_FLAGS)
EMBED_ARGS := $(if $(EMBED_PROVIDER),--provider $(EMBED_PROVIDER)) $(if $(EMBED_MODEL),--model $(call q,$(EMBED_MODEL))) \
  $(if $(DIMENSIONS),--dimensions $(DIMENSIONS)) $(EMBED_FLAGS)
LOAD_ARGS := $(DB_ARGS) --create-table $(if $(NO_EMBEDDINGS),--no-embeddings,$(if $(INDEX),--index $(INDEX))) $(LOAD_FLAGS)

FETCH := $(CK)/fetch.$(EXT)
PREPARE := $(CK)/prepare.$(EXT)
EMBED := $(CK)/embed.$(EXT)
LOAD := $(CK)/load.done
LOAD_INPUT := $(if $(NO_EMBEDDINGS),$(PREPARE),$(EMBED))

# What shapes each step, recorded in a file that changes only when the parameters change: changing a variable
# re-runs that step and those after it.
PARAMS_fetch := $(FETCH_ARGS) --format $(FORMAT)
PARAMS_prepare := $(PREPARE_ARGS) $(if $(SKIP_EXISTING),db=$(DB_ID)) --format $(FORMAT)
PARAMS_embed := $(EMBED_ARGS) --format $(FORMAT)
PARAMS_load := $(if $(DATABASE_URL),$(subst $(call q,$(DATABASE_URL)),'<url>',$(LOAD_ARGS)),$(LOAD_ARGS)) db=$(DB_ID)

$(CK)/.params/%: FORCE
	$(shell mkdir -p $(CK)/.params)$(file >$@.new,$(PARAMS_$*))
	@if cmp -s $@.new $@; then rm -f $@.new; else mv $@.new $@; fi

# Move a finished checkpoint that is about to be replaced to $(CK)/archive/<step>.<UTC time>.<ext>.
archive = if [ -f $@ ]; then mkdir -p $(CK)/archive; ts=$$(date -u +%Y%m%dT%H%M%SZ); \
  mv $@ $(CK)/archive/$(1).$$ts.$(EXT); if [ -f $@.meta.json ]; then mv $@.meta.json $(CK)/archive/$(1).$$ts.$(EXT).meta.json; fi; fi

## all (default) = load
all: load
## fetch: studies from the ClinicalTrials.gov API → checkpoints/fetch.ndjson (resumes an interrupted fetch)
fetch: $(FETCH)
## prepare: clean, flat records → checkpoints/prepare.ndjson
prepare: $(PREPARE)
## embed: records with vectors → checkpoints/embed.ndjson (texts already embedded come from the cache)
embed: $(EMBED)
## load: upsert into DATABASE_URL (else PGlite in PGLITE_DIR), build the index → checkpoints/load.done
load: $(LOAD)

$(FETCH): $(CK)/.params/fetch | $(BUILD_STAMP)
	@$(call archive,fetch)
	@# a partial fetch made with other parameters cannot be resumed: start again
	@if [ -f $@.partial ] && [ $@.partial -ot $(CK)/.params/fetch ]; then rm -f $@.partial $@.partial.meta.json; fi
	bin/ct-fetch $(FETCH_ARGS) --format $(FORMAT) --tee $@ --resume > /dev/null

$(PREPARE): $(FETCH) $(CK)/.params/prepare | $(BUILD_STAMP)
	@$(call archive,prepare)
	bin/ct-prepare $< --format $(FORMAT) -o $@ $(PREPARE_ARGS)

$(EMBED): $(PREPARE) $(CK)/.params/embed | $(BUILD_STAMP)
	@$(call archive,embed)
	bin/ct-embed $< --format $(FORMAT) -o $@ --cache $(call q,$(EMBED_CACHE)) $(EMBED_ARGS)

$(LOAD): $(LOAD_INPUT) $(CK)/.params/load | $(BUILD_STAMP)
	bin/ct-load $< $(LOAD_ARGS)
	@printf '{"tool":"make","step":"load","status":"complete","input":"%s","table":"%s","finished_at":"%s"}\n' \
	  $(call q,$<) $(call q,$(TABLE)) "$$(date -u +%Y-%m-%dT%H:%M:%SZ)" > $@.tmp && mv $@.tmp $@

## update: fetch only what changed since the newest last_update_posted in the table, embed and upsert it
UPDATE_DIR := $(CK)/update
update: | $(BUILD_STAMP)
	@since=$$(bin/ct-load --newest last_update_posted $(DB_ARGS)); \
	if [ -z "$$since" ]; then echo "make update: the table is empty or missing; run make load first" >&2; exit 1; fi; \
	mkdir -p $(UPDATE_DIR); ts=$$(date -u +%Y%m%dT%H%M%SZ); \
	echo "make update: studies updated since $$since" >&2; \
	bin/ct-fetch $(filter-out --start-year $(START_YEAR),$(FETCH_ARGS)) --updated-since $$since --tee $(UPDATE_DIR)/fetch.$$ts.ndjson \
	| bin/ct-prepare $(PREPARE_FLAGS) --tee $(UPDATE_DIR)/prepare.$$ts.ndjson \
	$(if $(NO_EMBEDDINGS),,| bin/ct-embed --cache $(call q,$(EMBED_CACHE)) $(EMBED_ARGS) --tee $(UPDATE_DIR)/embed.$$ts.ndjson) \
	| bin/ct-load $(filter-out --create-table,$(LOAD_ARGS))

## checkpoints: a table of every checkpoint (step, finished, records, size, parameters, partial or complete)
checkpoints: | $(BUILD_STAMP)
	@node scripts/checkpoints.mjs list $(call q,$(CK))

## clean-checkpoints: keep only the newest KEEP (default 3) archived checkpoints per step
clean-checkpoints:
	@node scripts/checkpoints.mjs prune $(call q,$(CK)) $(KEEP)

## clean: remove checkpoints and archives (never the embedding cache: that is clean-cache)
clean:
	@find $(call q,$(CK)) -mindepth 1 -maxdepth 1 ! -name .gitkeep ! -name $(notdir $(EMBED_CACHE)) -exec rm -rf {} +
	@echo "removed checkpoints in $(CK) (kept the embedding cache $(EMBED_CACHE))"

## clean-cache: remove the embedding cache (texts will be paid for again)
clean-cache:
	rm -rf $(call q,$(EMBED_CACHE))

## help: this list
help:
	@echo "Targets:"; grep -hE '^## ' $(MAKEFILE_LIST) | sed 's/^## /  /'
	@echo; echo "Variables (make VAR=value …):"
	@echo "  NUM_RECORDS     stop fetching after N studies (default: all)"
	@echo "  START_YEAR      studies starting in or after this year (default 2014; START_YEAR= for all)"
	@echo "  QUERY CONDITION STATUS   API filters (query.term, query.cond, filter.overallStatus)"
	@echo "  CT_API_URL      API base URL (default https://clinicaltrials.gov/api/v2)"
	@echo "  FORMAT          ndjson (default) or arrow: checkpoint format and file suffix"
	@echo "  DATABASE_URL    Postgres URL; empty = PGlite in PGLITE_DIR (default data/pglite)"
	@echo "  TABLE           target table (default clinical_trials)"
	@echo "  EMBED_PROVIDER  openai or hash (default: openai when OPENAI_API_KEY/OPENAI_BASE_URL is set)"
	@echo "  EMBED_MODEL DIMENSIONS   embedding model and vector size"
	@echo "  EMBED_CACHE     embedding cache directory (default checkpoints/embed-cache)"
	@echo "  NO_EMBEDDINGS=1 load prepared records without vectors (skips embed)"
	@echo "  SKIP_EXISTING=1 prepare drops studies already in the table with the same content hash"
	@echo "  INDEX           hnsw (default) or empty: index built after the load"
	@echo "  CHECKPOINT_DIR  where checkpoints live (default checkpoints); KEEP for clean-checkpoints"
	@echo "  FETCH_FLAGS PREPARE_FLAGS EMBED_FLAGS LOAD_FLAGS   extra flags for one tool"
