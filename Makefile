# lakevault — one command each: `make test`, `make demo`, `make schemas`.
# Every target installs what it is missing first (project-local, pinned), so a fresh clone works.

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
VENV := .venv
PY ?= python3
CARGO ?= cargo

.PHONY: test lint unit venv schemas demo bench clean-venv

## make test: format check, clippy -D warnings, the whole test suite (against moto).
test: venv
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings
	$(CARGO) test --workspace --locked

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
