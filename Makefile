# lakevault — one command each: `make test`, `make demo`, `make schemas`.
# Every target installs what it is missing first (project-local, pinned), so a fresh clone works.

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
VENV := .venv
PY ?= python3
CARGO ?= cargo

RUNNER := local/sfn-runner

.PHONY: test venv node build schemas demo bench clean-venv

## make test: format check, clippy -D warnings, the whole test suite (against moto and the local stack).
test: venv node
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings
	# Also builds every step binary (each package has integration tests), which the end-to-end tests
	# run through the local Lambda endpoint; a separate `cargo build` would compile the SDK twice
	# (dev-dependency features differ).
	$(CARGO) test --workspace --locked

## make demo: back up a real Delta table end to end on this machine (moto + the local stack).
demo: venv node build
	target/debug/lakevault-local demo

## make bench: the audit-report benchmark (1M and 10M rows, with a Python csv comparison).
bench:
	$(CARGO) bench --locked -p audit-report

## make build: every step and local tool (debug).
build:
	$(CARGO) build --workspace --bins --locked

## make node: the pinned state machine runner and validator (npm ci from package-lock.json).
node: $(RUNNER)/node_modules/.installed

$(RUNNER)/node_modules/.installed: $(RUNNER)/package.json $(RUNNER)/package-lock.json
	cd $(RUNNER) && npm ci --no-audit --no-fund --loglevel=error
	touch $@

## make venv: the project-local Python environment with the pinned moto server.
venv: $(VENV)/.installed

$(VENV)/.installed: requirements.txt constraints.txt
	test -x $(VENV)/bin/python || $(PY) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements.txt -c constraints.txt
	touch $@

## make schemas: regenerate schemas/*.json from the step types.
schemas:
	LAKEVAULT_UPDATE_SCHEMAS=1 $(CARGO) test --locked -p workspace-tests --test schemas

clean-venv:
	rm -rf $(VENV)
