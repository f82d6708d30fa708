# Caseflow: the commands a newcomer and CI need. `make help` lists them.

SHELL := /bin/bash
# Two cores: keep builds lean.
export CARGO_BUILD_JOBS ?= 2
# nextest runs each test in its own process (the OTLP test installs a global subscriber);
# plain `cargo test` is the fallback where nextest is not installed.
TEST_RUNNER := $(shell cargo nextest --version >/dev/null 2>&1 && echo "cargo nextest run --no-fail-fast" || echo "cargo test --no-fail-fast")

.PHONY: help run run-empty demo-data build browser-deps test test-sqlite test-postgres contracts api-fuzz deploy-check docx-check image up down bench fuzz lint fmt clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

run: ## Start all four services on SQLite (./data); the first start loads a generated half-year
	cargo run --bin caseflow -- run --config deploy/caseflow.toml --demo-data-key dev-importer-key

run-empty: ## Start them with no demo data (remove ./data first to start from nothing)
	cargo run --bin caseflow -- run --config deploy/caseflow.toml

demo-data: ## Write a generated half-year in the import format to data/history.jsonl (SEED, SCALE)
	mkdir -p data && cargo run --bin caseflow -- demo-data --seed $${SEED:-2020} --scale $${SCALE:-0.1} --out data/history.jsonl

build: ## Build every binary
	cargo build --workspace --bins

test: test-sqlite test-postgres contracts api-fuzz deploy-check docx-check ## Run the whole suite: SQLite, then PostgreSQL when TEST_DATABASE_URL is set, then the contracts, the API fuzzer, the deployment files and the DOCX bulletin

# The browser tests (tests/e2e/browser.rs) drive Debian's Chromium with playwright-core from the
# npm registry, pinned in tests/browser/package-lock.json; no browser is downloaded.
browser-deps: ## Install playwright-core for the browser tests (needs Node.js 20+ and Debian's chromium)
	@command -v node >/dev/null || { echo "Node.js is missing: the browser tests need Node.js 20 or later"; exit 1; }
	@command -v chromium >/dev/null || test -x "$${CHROMIUM:-/usr/bin/chromium}" || { echo "chromium is missing: apt-get install --no-install-recommends chromium"; exit 1; }
	@test -d tests/browser/node_modules/playwright-core || (cd tests/browser && npm ci --no-audit --no-fund)

test-sqlite: browser-deps ## The whole suite on SQLite
	env -u TEST_DATABASE_URL $(TEST_RUNNER) --workspace

test-postgres: browser-deps ## The whole suite on PostgreSQL (needs TEST_DATABASE_URL; skipped without it)
	@if [ -n "$$TEST_DATABASE_URL" ]; then \
		echo "== PostgreSQL: $$TEST_DATABASE_URL"; \
		$(TEST_RUNNER) --workspace; \
	else \
		echo "TEST_DATABASE_URL is not set: PostgreSQL run skipped"; \
	fi

# The OpenAPI documents, checked by the validator client generators rely on (from PyPI, pinned,
# in a venv under target/ so nothing is installed on the machine itself).
OPENAPI_VALIDATOR := openapi-spec-validator==0.7.2
contracts: ## Write the four OpenAPI documents and check them with openapi-spec-validator
	cargo run -q --bin caseflow -- openapi --out target/openapi
	@test -x target/tools/bin/openapi-spec-validator || { python3 -m venv target/tools && target/tools/bin/pip install -q '$(OPENAPI_VALIDATOR)'; }
	target/tools/bin/openapi-spec-validator --schema 3.1 target/openapi/*.json

# Property-based fuzzing of the REST edges from their OpenAPI documents (schemathesis, pinned,
# in the same venv): no 5xx, no undocumented status, responses as documented.
SCHEMATHESIS := schemathesis==4.32.5
api-fuzz: ## Fuzz the four REST APIs from their OpenAPI documents (API_FUZZ_EXAMPLES per operation, API_FUZZ_SEED)
	cargo build -q --bin caseflow
	@test -x target/tools/bin/schemathesis || { python3 -m venv target/tools && target/tools/bin/pip install -q '$(SCHEMATHESIS)'; }
	tests/api-fuzz.sh target/tools/bin/schemathesis target/debug/caseflow

# The DOCX bulletin opened as an office's reader opens it (python-docx from PyPI, pinned, in the
# same venv) and compared with the Markdown of the same blocks: masthead, every section, every
# attachment cell. The reporting snapshot test writes both (target/tmp/bulletin/).
PYTHON_DOCX := python-docx==1.2.0
docx-check: ## Open the DOCX bulletin with python-docx and check it against the Markdown bulletin
	env -u TEST_DATABASE_URL cargo test -q -p caseflow-reporting --test snapshots
	@test -x target/tools/bin/python && target/tools/bin/python -c 'import docx' 2>/dev/null || { python3 -m venv target/tools && target/tools/bin/pip install -q '$(PYTHON_DOCX)'; }
	target/tools/bin/python tests/docx/check_bulletin.py target/tmp/bulletin/bulletin.docx target/tmp/bulletin/bulletin.md

# The Kubernetes manifests rendered by kustomize and checked against the Kubernetes 1.31 schemas
# offline (kubernetes-validate from PyPI, pinned, in the same venv); the compose file against the
# Compose Specification's schema (vendored, check-jsonschema from PyPI) and by
# `docker compose config` where the compose plugin is installed. The settings they give the
# services and the series the dashboards ask for are checked by the e2e suite (tests/e2e/deploy.rs).
KUBERNETES_VALIDATE := kubernetes-validate==1.31.0
CHECK_JSONSCHEMA := check-jsonschema==0.29.4
deploy-check: ## Render the Kubernetes overlays and validate them against the schemas; check the compose file
	@test -x target/tools/bin/kubernetes-validate || { python3 -m venv target/tools && target/tools/bin/pip install -q '$(KUBERNETES_VALIDATE)'; }
	@test -x target/tools/bin/check-jsonschema || { python3 -m venv target/tools && target/tools/bin/pip install -q '$(CHECK_JSONSCHEMA)'; }
	@command -v promtool >/dev/null || { echo "promtool is missing: apt-get install --no-install-recommends prometheus"; exit 1; }
	@echo "== the alert rules: checked and unit-tested (deploy/prometheus/alerts.test.yml)"
	@promtool check rules deploy/prometheus/alerts.yml
	@promtool test rules deploy/prometheus/alerts.test.yml
	@echo "== compose.yaml against the Compose Specification's schema (deploy/compose/schema)"
	@target/tools/bin/check-jsonschema --schemafile deploy/compose/schema/compose-spec.json deploy/compose/compose.yaml
	@for overlay in deploy/k8s/overlays/*/; do \
		echo "== kubectl kustomize $$overlay"; \
		kubectl kustomize "$$overlay" > target/k8s-$$(basename $$overlay).yaml || exit 1; \
		target/tools/bin/kubernetes-validate --strict --quiet -k 1.31.0 target/k8s-$$(basename $$overlay).yaml || exit 1; \
	done
	@if docker compose version >/dev/null 2>&1; then \
		docker compose -f deploy/compose/compose.yaml config --quiet && echo "== docker compose config: ok"; \
	else \
		echo "== docker compose: plugin not installed here; compose.yaml checked against the schema above and by tests/e2e/deploy.rs"; \
	fi

image: ## Build the container image caseflow:dev (needs a Docker daemon)
	docker build -f deploy/docker/Dockerfile -t caseflow:dev .

up: ## Start the whole stack with docker compose (PostgreSQL, the four services, collector, Jaeger, Prometheus, Grafana)
	docker compose -f deploy/compose/compose.yaml up -d --build
	@echo "intake     http://localhost:8081   (REST and gRPC; /metrics, /health/readyz)"
	@echo "routing    http://localhost:8082"
	@echo "evaluation http://localhost:8083"
	@echo "reporting  http://localhost:8084"
	@echo "Jaeger     http://localhost:16686  (traces)"
	@echo "Prometheus http://localhost:9090   (metrics, alerts)"
	@echo "Grafana    http://localhost:3000   (dashboards: Caseflow / services, district; admin password caseflow)"

down: ## Stop the compose stack (the database volume stays; `docker compose ... down -v` removes it)
	docker compose -f deploy/compose/compose.yaml down

bench: ## Benchmarks against a reference measured in the same run (BENCH_ORDERS, BENCH_IMPORT_SCALE, BENCH_DISPATCHES, BENCH_CONSOLE_DISPATCHES, BENCH_MATTERS, BENCH_DATABASE_URL)
	TEST_DATABASE_URL="$(BENCH_DATABASE_URL)" cargo bench -p caseflow --bench writepath
	cargo bench -p caseflow --bench halfyear
	cargo bench -p caseflow --bench console
	BENCH_DATABASE_URL="$(BENCH_DATABASE_URL)" cargo bench -p caseflow --bench suggester

fuzz: ## Fuzz the upload readers and the work-order JSON for FUZZ_SECONDS each (needs `cargo install cargo-fuzz`)
	cd fuzz && for t in upload order_json; do \
		mkdir -p ../target/fuzz-corpus/$$t && cp corpus/$$t/* ../target/fuzz-corpus/$$t/ && \
		cargo fuzz run -s none -O $$t ../target/fuzz-corpus/$$t -- -max_total_time=$${FUZZ_SECONDS:-120} -rss_limit_mb=512 -malloc_limit_mb=256 || exit 1; \
	done

lint: ## cargo fmt --check and clippy with warnings as errors
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings

fmt: ## Format the code
	cargo fmt --all

clean: ## Remove build output and the local SQLite data
	cargo clean
	rm -rf data
