# ct-pipeline — build, test and run the pipeline with make.
# `make demo` runs the whole pipeline offline on the bundled sample; `make test` runs every test.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DELETE_ON_ERROR:
MAKEFLAGS += --no-builtin-rules

# ---------------------------------------------------------------------------------------------------------
# Set-up: dependencies (npm ci, only when package-lock.json changed) and the TypeScript build.
DEPS_STAMP := node_modules/.ct-pipeline-deps
SOURCES := $(shell find bin src test -name '*.ts' 2>/dev/null) tsconfig.json
BUILD_STAMP := dist/.build-stamp

.PHONY: deps build test bench help
deps: $(DEPS_STAMP)
$(DEPS_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

build: $(BUILD_STAMP)
$(BUILD_STAMP): $(DEPS_STAMP) $(SOURCES)
	npx tsc -p tsconfig.json
	@touch $@

## test: install what is needed (npm packages, pgvector in the local PostgreSQL), build, run all tests
test: build
	scripts/setup-pgvector.sh
	npm test
