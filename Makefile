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
	@node scripts/pglite-template.mjs # new PGlite databases are copies of it (README, PGlite)
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
	node bench/format-bench.mjs

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
ifeq ($(words $(CHECKPOINT_DIR)),0)
$(error CHECKPOINT_DIR is empty: name a folder, e.g. CHECKPOINT_DIR=checkpoints)
endif
ifneq ($(words $(CHECKPOINT_DIR)),1)
$(error CHECKPOINT_DIR='$(CHECKPOINT_DIR)': make cannot use a folder name with spaces; choose one without, or a symlink to it)
endif
CK := $(CHECKPOINT_DIR)
FORMAT ?= ndjson
EXT := $(if $(filter arrow parquet,$(FORMAT)),$(FORMAT),ndjson)
# A Parquet file cut short cannot be read: the fetch checkpoint, which resumes from its partial file, is Arrow then.
FETCH_FORMAT := $(if $(filter parquet,$(FORMAT)),arrow,$(FORMAT))
FETCH_EXT := $(if $(filter parquet,$(FORMAT)),arrow,$(EXT))
NUM_RECORDS ?=
START_YEAR ?= 2014
QUERY ?=
CONDITION ?=
STATUS ?=
CT_API_URL ?=
# What CT_API_URL serves, when its address changes from run to run (the demo's mock on a random port): the
# fetch parameters record this instead of the URL, so a new port alone re-fetches nothing.
CT_API_SOURCE ?=
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
# PIPE=1: `make load` runs fetch | prepare | embed | load as one pipeline when the fetch has to run (see load).
PIPE ?=
# Set by `make update` for its own run (studies updated on or after this date).
UPDATED_SINCE ?=
# Extra flags passed as they are, e.g. FETCH_FLAGS='--rate 2' EMBED_FLAGS='--concurrency 8'
FETCH_FLAGS ?=
PREPARE_FLAGS ?=
EMBED_FLAGS ?=
LOAD_FLAGS ?=

# Connection settings reach the tools through the environment only (DATABASE_URL, or the PG* variables),
# never on a command line: no echoed recipe, no process list and no parameter file holds a password.
ifneq ($(DATABASE_URL),)
export DATABASE_URL
endif

q = '$(subst ','\'',$(1))'
DB_ARGS := $(if $(DATABASE_URL),,--pglite-dir $(call q,$(PGLITE_DIR))) --table $(call q,$(TABLE))
# The database's identity without its password (host, port, database, user, table), for the parameter files
# and the update cursor: a password change re-runs nothing.
db_id = $$(node scripts/make-helper.mjs db-id $(call q,$(PGLITE_DIR)) $(call q,$(TABLE)))

BASE_URL_ARG = $(if $(CT_API_URL),--base-url $(call q,$(CT_API_URL)))
FILTER_ARGS := $(if $(QUERY),--query $(call q,$(QUERY))) \
  $(if $(CONDITION),--condition $(call q,$(CONDITION))) $(if $(STATUS),--status $(call q,$(STATUS))) \
  $(if $(START_YEAR),--start-year $(START_YEAR)) $(if $(NUM_RECORDS),--num-records $(NUM_RECORDS)) \
  $(if $(UPDATED_SINCE),--updated-since $(call q,$(UPDATED_SINCE))) $(FETCH_FLAGS)
FETCH_ARGS := $(BASE_URL_ARG) $(FILTER_ARGS)
# In a pipeline ct-prepare does not dedupe (a latest-wins dedupe holds all output until the end of its input):
# ct-fetch already writes each study once, and ct-load keeps the newer of two versions (by last_update_posted).
PREPARE_ARGS := $(if $(PIPE),--dedupe none) $(if $(START_YEAR),--start-year $(START_YEAR)) $(if $(SKIP_EXISTING),--skip-existing $(DB_ARGS)) $(PREPARE_FLAGS)
EMBED_ARGS := $(if $(EMBED_PROVIDER),--provider $(EMBED_PROVIDER)) $(if $(EMBED_MODEL),--model $(call q,$(EMBED_MODEL))) \
  $(if $(DIMENSIONS),--dimensions $(DIMENSIONS)) $(EMBED_FLAGS)
LOAD_ARGS := $(DB_ARGS) --create-table $(if $(NO_EMBEDDINGS),--no-embeddings,$(if $(INDEX),--index $(INDEX))) $(LOAD_FLAGS)

FETCH := $(CK)/fetch.$(FETCH_EXT)
PREPARE := $(CK)/prepare.$(EXT)
EMBED := $(CK)/embed.$(EXT)
LOAD := $(CK)/load.done
LOAD_INPUT := $(if $(NO_EMBEDDINGS),$(PREPARE),$(EMBED))

# What shapes each step, recorded in a file that changes only when the parameters change: changing a variable
# re-runs that step and those after it. Written by a recipe (so `make -n` writes nothing), never with a secret.
PARAMS_fetch := $(if $(CT_API_SOURCE),--source $(call q,$(CT_API_SOURCE)),$(BASE_URL_ARG)) $(FILTER_ARGS) --format $(FETCH_FORMAT)
PARAMS_prepare := $(PREPARE_ARGS) --format $(FORMAT)
PARAMS_embed := $(EMBED_ARGS) --format $(FORMAT)
PARAMS_load := $(LOAD_ARGS)
NEEDS_DB_prepare := $(SKIP_EXISTING)
NEEDS_DB_load := 1

# The checkpoint folder: a folder the pipeline creates (or finds empty, or holding only the pipeline's own
# files, as an older version left it) gets the marker file .ct-pipeline; the destructive targets touch only a
# folder that has it.
MARKER := $(CK)/.ct-pipeline
OWN_FILES := \.gitkeep|\.lock|\.params|\.fetch-started|archive|update|embed-cache|load\.done(\.tmp)?|(fetch|prepare|embed)\.(ndjson|arrow|parquet)(\.partial|\.resume-src)?(\.meta\.json|\.lock(\.takeover)?)?
ensure_ck = if [ ! -f $(call q,$(MARKER)) ] && { [ ! -d $(call q,$(CK)) ] || [ -z "$$(ls -A $(call q,$(CK)) | grep -vxE '$(OWN_FILES)')" ]; }; then \
  mkdir -p $(call q,$(CK)) && echo 'made by the ct-pipeline Makefile: make clean may empty this folder' > $(call q,$(MARKER)); fi

# One writer per checkpoint folder: flock(1) on $(CK)/.lock, held on fd 9 by the recipe's shell and everything
# it starts (the kernel releases it when the last of them exits, however it dies); the holder's name and pid
# are written into the file for the message. A second writer is refused at once.
LOCK := $(CK)/.lock
# When the named holder is dead (or a zombie nobody has reaped yet), the processes it started are still exiting (a SIGKILLed process group): wait
# up to 10 s for them before refusing.
lock = $(ensure_ck); exec 9>>$(call q,$(LOCK)); if ! flock -n 9; then holder=$$(cat $(call q,$(LOCK)) 2>/dev/null || true); \
  hpid=$${holder\#\#*pid }; if [ -n "$$hpid" ] && { ! kill -0 "$$hpid" 2>/dev/null || grep -qs '^[^)]*) Z' /proc/$$hpid/stat; }; then \
    flock -w 10 9 || { echo "make $(1): $(CK) is in use by processes that $$holder started (it has died; they still run)" >&2; exit 1; }; \
  else echo "make $(1): $(CK) is in use by $${holder:-another make}; try again when it has finished" >&2; exit 1; fi; fi; \
  printf 'make %s, pid %s\n' $(1) $$$$ > $(call q,$(LOCK))
# `make -n`: the sub-make only prints (a recipe that names $(MAKE) runs even under -n, so nothing else may run).
DRY_RUN := $(findstring n,$(filter-out -%,$(firstword $(MAKEFLAGS))))

$(CK)/.params/%: FORCE
	@$(ensure_ck); mkdir -p $(call q,$(CK)/.params); $(if $(NEEDS_DB_$*),db=$(db_id);) \
	{ printf '%s\n' $(call q,$(PARAMS_$*)); $(if $(NEEDS_DB_$*),printf 'db=%s\n' "$$db";) } > $@.new
	@if cmp -s $@.new $@; then rm -f $@.new; else mv $@.new $@; fi

# Move a finished checkpoint that is about to be replaced to $(CK)/archive/<step>.<UTC time>.<ext>.
archive = $(call archive_file,$(1),$@)
archive_file = if [ -f $(2) ]; then mkdir -p $(CK)/archive; ts=$$(date -u +%Y%m%dT%H%M%SZ); \
  mv $(2) $(CK)/archive/$(1).$$ts$(suffix $(2)); if [ -f $(2).meta.json ]; then mv $(2).meta.json $(CK)/archive/$(1).$$ts$(suffix $(2)).meta.json; fi; fi

## all (default) = load
all: load
## fetch: studies from the ClinicalTrials.gov API → checkpoints/fetch.ndjson (resumes an interrupted fetch)
## prepare: clean, flat records → checkpoints/prepare.ndjson
## embed: records with vectors → checkpoints/embed.ndjson (texts already embedded come from the cache)
ifneq ($(DRY_RUN),)
fetch prepare embed: ; @$(MAKE) $(if $(filter fetch,$@),$(FETCH),$(CK)/$@.$(EXT))
load: ; @$(MAKE) $(LOAD)
else
fetch prepare embed: | $(BUILD_STAMP)
	@$(call lock,$@); $(MAKE) $(if $(filter fetch,$@),$(FETCH),$(CK)/$@.$(EXT))

## load: upsert into DATABASE_URL (else PGlite in PGLITE_DIR), build the index → checkpoints/load.done
load: | $(BUILD_STAMP)
	@$(call lock,load); stamp() { stat -c '%i %y' $(LOAD) 2>/dev/null || true; }; before=$$(stamp); \
	$(if $(PIPE),$(MAKE) pipe-run;) $(MAKE) $(LOAD); $(record_cursor); \
	if [ "$$before" = "$$(stamp)" ]; then \
	  echo "make load: up to date: the $$(node scripts/make-helper.mjs count $(LOAD_INPUT).meta.json) records of $(LOAD_INPUT) are in $(TABLE) (loaded $$(date -u -r $(LOAD) +%Y-%m-%dT%H:%M:%SZ)); nothing to do" >&2; fi
endif

# Before a fetch: a partial fetch made with other parameters cannot be resumed (nor the run that resumed it), so
# it starts again; the day a fresh fetch started bounds the update cursor (a study updated meanwhile is dated
# that day or later).
before_fetch = for f in $(FETCH).partial $(FETCH).resume-src; do if [ -f $$f ] && [ $$f -ot $(CK)/.params/fetch ]; then rm -f $$f $$f.meta.json; fi; done; \
  if [ ! -f $(FETCH).partial ] && [ ! -f $(FETCH).resume-src ]; then date -u +%Y-%m-%d > $(CK)/.fetch-started; fi

$(FETCH): $(CK)/.params/fetch | $(BUILD_STAMP)
	@$(call archive,fetch)
	@$(before_fetch)
	bin/ct-fetch $(FETCH_ARGS) --format $(FETCH_FORMAT) --tee $@ --resume > /dev/null

# PIPE=1 (run by `make load` under its lock): when the fetch checkpoint is missing or older than its parameters,
# the steps overlap as one pipeline, each stage teeing its checkpoint; they finish in order, so make then finds
# every file up to date. A stage that fails leaves FILE.partial (the fetch resumes from it); the stages before a
# failed ct-load still complete their checkpoints (a tee is finished when stdout closes), so a rerun, in either
# mode, only loads. With a complete fetch checkpoint, the remaining steps run from files as without PIPE.
.PHONY: pipe-run
pipe-run: $(CK)/.params/fetch $(CK)/.params/prepare $(if $(NO_EMBEDDINGS),,$(CK)/.params/embed) $(CK)/.params/load | $(BUILD_STAMP)
	@if [ -f $(FETCH) ] && [ $(FETCH) -nt $(CK)/.params/fetch ]; then exit 0; fi; \
	$(if $(filter parquet,$(FORMAT)),echo "make load PIPE=1: Parquet cannot stream through a pipe: use FORMAT=ndjson or FORMAT=arrow" >&2; exit 2;) \
	$(call archive_file,fetch,$(FETCH)); $(call archive_file,prepare,$(PREPARE)); $(if $(NO_EMBEDDINGS),,$(call archive_file,embed,$(EMBED));) \
	rm -f $(LOAD); $(before_fetch); \
	echo "make load PIPE=1: ct-fetch | ct-prepare$(if $(NO_EMBEDDINGS),, | ct-embed) | ct-load" >&2; \
	bin/ct-fetch $(FETCH_ARGS) --format $(FETCH_FORMAT) --tee $(FETCH) --resume \
	  | bin/ct-prepare --format $(FORMAT) --tee $(PREPARE) $(PREPARE_ARGS) \
	  $(if $(NO_EMBEDDINGS),,| bin/ct-embed --format $(FORMAT) --tee $(EMBED) --cache $(call q,$(EMBED_CACHE)) $(EMBED_ARGS)) \
	  | bin/ct-load $(LOAD_ARGS); \
	$(call load_done,$(LOAD_INPUT))

$(PREPARE): $(FETCH) $(CK)/.params/prepare | $(BUILD_STAMP)
	@$(call archive,prepare)
	bin/ct-prepare $< --format $(FORMAT) -o $@ $(PREPARE_ARGS)

$(EMBED): $(PREPARE) $(CK)/.params/embed | $(BUILD_STAMP)
	@$(call archive,embed)
	bin/ct-embed $< --format $(FORMAT) -o $@ --cache $(call q,$(EMBED_CACHE)) $(EMBED_ARGS)

load_done = printf '{"tool":"make","step":"load","status":"complete","input":"%s","table":"%s","finished_at":"%s"}\n' \
  $(call q,$(1)) $(call q,$(TABLE)) "$$(date -u +%Y-%m-%dT%H:%M:%SZ)" > $(LOAD).tmp && mv $(LOAD).tmp $(LOAD)

$(LOAD): $(LOAD_INPUT) $(CK)/.params/load | $(BUILD_STAMP)
	bin/ct-load $< $(LOAD_ARGS)
	@$(call load_done,$<)

# The update cursor: the date `make update` fetches from, kept in $(CURSOR) with the database's identity.
# It moves only after a complete load, to the newest last_update_posted of the studies that load fetched
# (never past the day before that fetch started, never backwards): never from rows in the table.
UPDATE_DIR := $(CK)/update
UPDATE_RUN := $(UPDATE_DIR)/run
CURSOR := $(UPDATE_DIR)/cursor
# $(1) = the checkpoint folder whose complete load is being recorded, $(2) = that run's since-date
record_cursor = mkdir -p $(call q,$(UPDATE_DIR)); cursor=$$(node scripts/make-helper.mjs cursor-record $(call q,$(CURSOR)) \
  $(call q,$(or $(1),$(CK))/fetch.$(FETCH_EXT)) $(call q,$(or $(1),$(CK))/.fetch-started) $(call q,$(PGLITE_DIR)) $(call q,$(TABLE)) \
  "$(2)" $(NUM_RECORDS)); if [ -n "$$cursor" ]; then echo "make: update cursor now $$cursor (in $(CURSOR)): make update fetches the studies updated since then" >&2; fi

## update: fetch only what changed since the update cursor, with every filter; prepare, embed, upsert it.
##         It runs through complete files in checkpoints/update/run; a killed or failed update is finished first.
ifneq ($(DRY_RUN),)
update: ; @$(MAKE) $(UPDATE_RUN)/load.done CHECKPOINT_DIR=$(UPDATE_RUN) UPDATED_SINCE=YYYY-MM-DD EMBED_CACHE=$(call q,$(EMBED_CACHE))
else
update: | $(BUILD_STAMP)
	@$(call lock,update); mkdir -p $(call q,$(UPDATE_DIR)); \
	for pass in 1 2; do \
	  if [ -f $(UPDATE_RUN)/since ]; then since=$$(cat $(UPDATE_RUN)/since); resumed=1; \
	    echo "make update: finishing the interrupted update (studies updated since $$since) first" >&2; \
	  else resumed=; newest=$$(bin/ct-load --newest last_update_posted $(DB_ARGS)); \
	    if [ -z "$$newest" ]; then echo "make update: $(TABLE) is empty or missing: run make load first" >&2; exit 1; fi; \
	    since=$$(node scripts/make-helper.mjs cursor-read $(call q,$(CURSOR)) $(call q,$(PGLITE_DIR)) $(call q,$(TABLE))); \
	    if [ -z "$$since" ]; then since=$$newest; \
	      echo "make update: no update cursor in $(CURSOR) for this database: starting from the newest last_update_posted in $(TABLE)" >&2; fi; \
	    rm -rf $(UPDATE_RUN); mkdir -p $(UPDATE_RUN); printf '%s\n' "$$since" > $(UPDATE_RUN)/since.tmp; mv $(UPDATE_RUN)/since.tmp $(UPDATE_RUN)/since; \
	    echo "make update: studies updated since $$since" >&2; fi; \
	  $(MAKE) $(UPDATE_RUN)/load.done CHECKPOINT_DIR=$(UPDATE_RUN) UPDATED_SINCE="$$since" EMBED_CACHE=$(call q,$(EMBED_CACHE)); \
	  $(call record_cursor,$(UPDATE_RUN),$$since); \
	  rm -rf $(UPDATE_DIR)/last; mv $(UPDATE_RUN) $(UPDATE_DIR)/last; \
	  [ -n "$$resumed" ] || break; \
	done; \
	echo "make update: done; the next one fetches the studies updated since $$(node scripts/make-helper.mjs cursor-read $(call q,$(CURSOR)) $(call q,$(PGLITE_DIR)) $(call q,$(TABLE)))" >&2
endif

## checkpoints: a table of every checkpoint (step, finished, records, size, parameters, partial or complete)
checkpoints: | $(BUILD_STAMP)
	@node scripts/checkpoints.mjs list $(call q,$(CK))

# The destructive targets touch only a checkpoint folder the pipeline made (it has the marker, or holds only
# the pipeline's own files): never, say, CHECKPOINT_DIR=. (the repository) or a folder of your own.
guard_ck = if [ ! -e $(call q,$(CK)) ] || [ -z "$$(ls -A $(call q,$(CK)) | grep -vx .gitkeep)" ]; then \
    echo "make $(1): $(CK) holds no checkpoints; nothing to do" >&2; exit 0; fi; \
  if { [ ! -f $(call q,$(MARKER)) ] && [ -n "$$(ls -A $(call q,$(CK)) | grep -vxE '$(OWN_FILES)')" ]; } || [ "$$(realpath -- $(call q,$(CK)))" = "$$(realpath -- .)" ]; then \
    echo "make $(1): refusing: $(CK) was not made by the pipeline (no $(MARKER)); remove what you want from it by hand" >&2; exit 1; fi

## clean-checkpoints: keep only the newest KEEP (default 3) archived checkpoints per step
clean-checkpoints:
	@$(call guard_ck,$@); $(call lock,$@); node scripts/checkpoints.mjs prune $(call q,$(CK)) $(call q,$(KEEP))

## clean: remove checkpoints and archives (never the embedding cache: that is clean-cache)
clean:
	@$(call guard_ck,$@); $(call lock,$@); shopt -s dotglob nullglob; \
	cache=$(if $(EMBED_CACHE),$$(realpath -m -- $(call q,$(EMBED_CACHE))),); \
	for f in $(call q,$(CK))/*; do \
	  case "$${f##*/}" in .gitkeep|.ct-pipeline|.lock) continue;; esac; \
	  if [ -n "$$cache" ]; then case "$$cache/" in "$$(realpath -m -- "$$f")/"*) continue;; esac; fi; \
	  rm -rf -- "$$f"; \
	done; \
	echo "removed checkpoints in $(CK)$(if $(EMBED_CACHE), (kept the embedding cache $(EMBED_CACHE)))"

## clean-cache: remove the embedding cache (texts will be paid for again)
clean-cache:
	@$(if $(EMBED_CACHE),,echo "make clean-cache: EMBED_CACHE is empty: nothing to remove" >&2; exit 0;) \
	c=$(call q,$(EMBED_CACHE)); if [ ! -e "$$c" ]; then echo "make clean-cache: no cache at $$c" >&2; exit 0; fi; \
	for d in "$$c"/* "$$c"/.[!.]*; do [ -e "$$d" ] || continue; if [ ! -f "$$d/namespace.json" ]; then \
	  echo "make clean-cache: refusing: $$c is not only an embedding cache ($$d is not one of its namespaces)" >&2; exit 1; fi; done; \
	rm -rf -- "$$c"; echo "removed the embedding cache $$c"

## help: this list
help:
	@echo "Targets:"; grep -hE '^## ' $(MAKEFILE_LIST) | sed 's/^## /  /'
	@echo; echo "Variables (make VAR=value …):"
	@echo "  NUM_RECORDS     stop fetching after N studies (default: all)"
	@echo "  START_YEAR      studies starting in or after this year (default 2014; START_YEAR= for all)"
	@echo "  QUERY CONDITION STATUS   API filters (query.term, query.cond, filter.overallStatus)"
	@echo "  CT_API_URL      API base URL (default https://clinicaltrials.gov/api/v2)"
	@echo "  CT_API_SOURCE   name of the data in the fetch parameters instead of CT_API_URL (e.g. a mock on a random port)"
	@echo "  FORMAT          ndjson (default), arrow or parquet: checkpoint format and file suffix"
	@echo "  DATABASE_URL    Postgres URL (best from the environment); empty = PGlite in PGLITE_DIR (default data/pglite)"
	@echo "  TABLE           target table (default clinical_trials)"
	@echo "  EMBED_PROVIDER  openai or hash (default: openai when OPENAI_API_KEY/OPENAI_BASE_URL is set)"
	@echo "  EMBED_MODEL DIMENSIONS   embedding model and vector size"
	@echo "  EMBED_CACHE     embedding cache directory (default checkpoints/embed-cache)"
	@echo "  NO_EMBEDDINGS=1 load prepared records without vectors (skips embed)"
	@echo "  PIPE=1          make load: when the fetch has to run, fetch | prepare | embed | load overlap in one pipeline"
	@echo "  SKIP_EXISTING=1 prepare drops studies already in the table with the same content hash"
	@echo "  INDEX           hnsw (default) or empty: index built after the load"
	@echo "  CHECKPOINT_DIR  where checkpoints live (default checkpoints; no spaces); KEEP for clean-checkpoints"
	@echo "  FETCH_FLAGS PREPARE_FLAGS EMBED_FLAGS LOAD_FLAGS   extra flags for one tool"
