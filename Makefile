# lakevault — one command each: `make test`, `make demo`, `make schemas`, `make package`.
# Every target installs what it is missing first (project-local, pinned), so a fresh clone works.

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
VENV := .venv
PY ?= python3
CARGO ?= cargo

RUNNER := local/sfn-runner
INFRA_VENV := .venv-infra

# Deployment (docs/deploy.md).
STEPS := $(filter-out kit,$(notdir $(wildcard steps/*)))
LAMBDA_TARGET := aarch64-unknown-linux-gnu
ARTIFACT_PREFIX ?= lakevault
STACK_NAME ?= lakevault
AWS ?= $(INFRA_VENV)/bin/aws
PACKAGED := dist/backup-account.yaml

.PHONY: test venv node infra-venv build schemas demo bench zips package deploy clean-venv

## make test: format check, clippy -D warnings, the whole test suite (against moto and the local
## stack, plus cfn-lint, checkov and `aws cloudformation package` on the templates).
test: venv node infra-venv
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings
	# Also builds every step binary (each package has integration tests), which the end-to-end tests
	# run through the local Lambda endpoint; a separate `cargo build` would compile the SDK twice
	# (dev-dependency features differ).
	$(CARGO) test --workspace --locked

## make demo: back up a real Delta table end to end on this machine (moto + the local stack).
## make demo SFN=api: the same through the Step Functions API (aws-sdk-sfn) on moto's interpreter.
## make demo LARGE=1: also an object over the (lowered) Batch Operations copy limit, copied in parts.
demo: venv node build
	target/debug/lakevault-local demo $(if $(SFN),--sfn $(SFN)) $(if $(LARGE),--large-objects)

## make restore-demo: the restore drill on this machine: back up the demo table, delete the source
## table, restore two of its versions with `lakevault restore --local` and read them back with the
## deltalake package; a non-empty target, a vacuumed-out version, the same restore twice.
## By hand: `target/debug/lakevault-local up`, then the `lakevault restore --local ...` it prints
## (tools/lakevault/README.md).
.PHONY: restore-demo
restore-demo: venv node build
	target/debug/lakevault-local restore-demo

## make bench: the audit-report benchmark: the Rust core beside Python csv and DuckDB on the same
## files (1M and 10M rows), ratios first (steps/audit-report/README.md, "Performance"); then
## verify-snapshot's (steps/verify-snapshot/README.md, "Performance"); copy-parts' request issue rate
## (steps/copy-parts/README.md, "Performance").
## LAKEVAULT_BENCH_ROWS=100000 LAKEVAULT_BENCH_ROUNDS=1 make bench: a quick check.
BENCH_VENV := .venv-bench
BENCH_REQ := steps/audit-report/bench
.PHONY: bench-venv
bench: bench-venv venv
	LAKEVAULT_BENCH_PYTHON="$(CURDIR)/$(BENCH_VENV)/bin/python" $(CARGO) bench --locked -p audit-report
	$(CARGO) bench --locked -p verify-snapshot
	$(CARGO) bench --locked -p copy-parts

## make bench-verify: only verify-snapshot's benchmark (steps/verify-snapshot/README.md, "Performance"):
## one version of 1M files from a local checkpoint, and the S3 path's requests for 10,000 files on moto.
.PHONY: bench-verify
bench-verify: venv
	$(CARGO) bench --locked -p verify-snapshot

## make bench-venv: the benchmark's peers (pinned DuckDB) in .venv-bench.
bench-venv: $(BENCH_VENV)/.installed

$(BENCH_VENV)/.installed: $(BENCH_REQ)/requirements.txt $(BENCH_REQ)/constraints.txt
	test -x $(BENCH_VENV)/bin/python || $(PY) -m venv $(BENCH_VENV)
	echo '*' > $(BENCH_VENV)/.gitignore  # untracked without a line in the root .gitignore
	$(BENCH_VENV)/bin/pip install --quiet --disable-pip-version-check -r $(BENCH_REQ)/requirements.txt -c $(BENCH_REQ)/constraints.txt
	touch $@

## make build: every step and local tool (debug).
build:
	$(CARGO) build --workspace --bins --locked

## make node: the pinned state machine runner and validator (npm ci from package-lock.json).
node: $(RUNNER)/node_modules/.installed

$(RUNNER)/node_modules/.installed: $(RUNNER)/package.json $(RUNNER)/package-lock.json
	cd $(RUNNER) && npm ci --no-audit --no-fund --loglevel=error
	touch $@

## make infra-venv: the pinned deployment tools (AWS CLI, cargo-lambda with zig, checkov).
infra-venv: $(INFRA_VENV)/.installed

$(INFRA_VENV)/.installed: infra/requirements.txt infra/constraints.txt
	test -x $(INFRA_VENV)/bin/python || $(PY) -m venv $(INFRA_VENV)
	$(INFRA_VENV)/bin/pip install --quiet --disable-pip-version-check -r infra/requirements.txt -c infra/constraints.txt
	touch $@

## make zips: every step cross-built for Lambda (arm64, release) into target/lambda/<step>/bootstrap.zip.
zips: infra-venv
	if command -v rustup >/dev/null; then rustup target add $(LAMBDA_TARGET); fi
	PATH="$(CURDIR)/$(INFRA_VENV)/bin:$$PATH" $(CARGO) lambda build --release --arm64 \
		--output-format zip --locked $(addprefix --package ,$(STEPS))

## make package ARTIFACT_BUCKET=<bucket>: zips, then uploads them and the state machine definition
## to the artifact bucket and writes the deployable template to dist/backup-account.yaml.
package:
	@test -n "$(ARTIFACT_BUCKET)" || { echo "make package: set ARTIFACT_BUCKET=<a bucket of yours in the backup account and region>" >&2; exit 2; }
	$(MAKE) zips
	mkdir -p $(dir $(PACKAGED))
	$(AWS) cloudformation package --template-file infra/backup-account.yaml \
		--s3-bucket $(ARTIFACT_BUCKET) --s3-prefix $(ARTIFACT_PREFIX) \
		--output-template-file $(PACKAGED)
	@echo "packaged: $(PACKAGED); next: make deploy PARAMS='SourceAccountId=... SourceBuckets=... SnapshotBucketPrefix=... BreakGlassRoleArns=...'"

## make deploy PARAMS='Key=Value ...': creates or updates the backup-account stack from dist/.
deploy:
	@test -f $(PACKAGED) || { echo "make deploy: $(PACKAGED) missing: run make package first" >&2; exit 2; }
	$(AWS) cloudformation deploy --template-file $(PACKAGED) --stack-name $(STACK_NAME) \
		--capabilities CAPABILITY_IAM --no-fail-on-empty-changeset \
		$(if $(PARAMS),--parameter-overrides $(PARAMS))
	$(AWS) cloudformation describe-stacks --stack-name $(STACK_NAME) \
		--query 'Stacks[0].Outputs[].[OutputKey,OutputValue]' --output text

## make venv: the project-local Python environment with the pinned moto server.
venv: $(VENV)/.installed

$(VENV)/.installed: requirements.txt constraints.txt
	test -x $(VENV)/bin/python || $(PY) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements.txt -c constraints.txt
	touch $@

## make schemas: regenerate schemas/*.json from the step types.
schemas:
	LAKEVAULT_UPDATE_SCHEMAS=1 $(CARGO) test --locked -p workspace-tests --test it schemas::

clean-venv:
	rm -rf $(VENV) $(INFRA_VENV)
