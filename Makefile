# Everything runs through the Go toolchain; generators are pinned in go.mod
# with the tool directive and run with `go tool`.
GO ?= go
OAPI := $(GO) tool oapi-codegen

.PHONY: all generate build run run-fresh test lint fuzz contract node-tools docs bench bench-instructions soak clean spire spire-bin mail mailpit-bin prometheus cluster-test images isolation-test race example

all: build

## generate: regenerate gen/ from the OpenAPI contracts and the SQL (never edit gen/ by hand)
generate:
	$(OAPI) -config api/userapi.yaml openapi-public.yaml
	$(OAPI) -config api/propertyapi.yaml openapi-public.yaml
	$(OAPI) -config api/internalapi.yaml openapi-internal.yaml
	$(OAPI) -config api/internaluserapi.yaml openapi-internal.yaml
	$(GO) tool sqlc generate
	cd examples/households && $(GO) generate ./...

## build: both binaries into bin/
build:
	$(GO) build -o bin/user-service ./services/user/cmd/user-service
	$(GO) build -o bin/property-service ./services/property/cmd/property-service

DEVRUN_FLAGS ?=

## run: both services on SQLite under ./data in spiffe mode (a dev trust domain); Ctrl-C, or a
## signal to make or to bin/devrun, stops both
run:
	@echo "make run: building bin/ (on a fresh machine the first build downloads and compiles every module: several minutes; each package is listed as it compiles)"
	$(GO) build -v -o bin/user-service ./services/user/cmd/user-service
	$(GO) build -v -o bin/property-service ./services/property/cmd/property-service
	$(GO) build -v -o bin/devrun ./tools/devrun
	bin/devrun $(DEVRUN_FLAGS)

## run-fresh: make run on empty databases: it removes ./data (an earlier run's SQLite files,
## signing key and dev trust domain) first, so the walk-through's ids and emails are new
run-fresh:
	@$(MAKE) --no-print-directory run DEVRUN_FLAGS=-fresh

## spire: the real-SPIRE test: a SPIRE server and agent (v1.13.3, pinned in tools/spire,
## built once into .spire-bin), both services in spiffe mode, logins across SVID rotations
SPIRE_BIN := $(CURDIR)/.spire-bin
spire: build spire-bin
	SPIRE_BIN=$(SPIRE_BIN) SERVICE_BIN=$(CURDIR)/bin $(GO) test -tags spire -count=1 -v -timeout 10m ./e2e/spire/

## prometheus: a real Prometheus (Debian's prometheus) with deploy/prometheus's scrape config and
## rules against both services' admin listeners; a burst of wrong internal tokens must raise the
## rejection counter, fire the guessing alert within a minute and keep it firing
prometheus: build
	SERVICE_BIN=$(CURDIR)/bin $(GO) test -tags prometheus -count=1 -v -timeout 10m -run TestRealPrometheus ./deploy/prometheus/

## cluster-test: two replicas of each service on PostgreSQL and Redis behind HAProxy
## (deploy/haproxy), under load, through kills, a rolling restart and a key rotation
cluster-test: build
	SERVICE_BIN=$(CURDIR)/bin $(GO) test -tags cluster -count=1 -v -timeout 10m ./e2e/cluster/

## isolation-test: the services in network namespaces of their own (needs root, ip, nft): the
## internal port unreachable from an "outside" namespace, the login story across them
isolation-test: build
	SERVICE_BIN=$(CURDIR)/bin $(GO) test -tags isolation -count=1 -v -timeout 5m ./e2e/isolation/

## images: both images with podman (deploy/images/*.Containerfile, FROM scratch, nothing pulled),
## tagged localhost/jeeves4service/<service>:$(IMAGE_TAG), then inspected and their binaries reproduced
IMAGE_TAG ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo dev)
images:
	@if ! command -v podman >/dev/null 2>&1; then \
	  if [ "$$CI" = true ]; then echo "make images: podman is not installed but CI=true"; exit 1; fi; \
	  echo "make images: not run (podman is not installed; Debian: apt-get install podman)"; exit 0; fi; \
	IMAGE_TAG=$(IMAGE_TAG) $(GO) test -tags images -count=1 -v -timeout 30m ./deploy/images/

spire-bin: $(SPIRE_BIN)/spire-server
$(SPIRE_BIN)/spire-server: tools/spire/go.mod tools/spire/go.sum
	cd tools/spire && $(GO) build -o $(SPIRE_BIN)/ github.com/spiffe/spire/cmd/spire-server github.com/spiffe/spire/cmd/spire-agent

## mail: the invitation mail tests against a real SMTP server: Mailpit (v1.33.1, pinned in
## tools/mailpit, built once into .mailpit-bin) receives the mail, the tests read it through its API
# The folder Mailpit is built into (not MAILPIT_BIN: that is the binary's path the
# tests read, which a make variable of the same name would overwrite for them).
MAILPIT_DIR := $(CURDIR)/.mailpit-bin
mail: mailpit-bin
	MAILPIT_BIN=$(MAILPIT_DIR)/mailpit $(GO) test -count=1 -v -timeout 10m -run 'Mail' ./internal/testkit/mailpit/ ./services/property/ ./e2e/

mailpit-bin: $(MAILPIT_DIR)/mailpit
$(MAILPIT_DIR)/mailpit: tools/mailpit/go.mod tools/mailpit/go.sum
	cd tools/mailpit && $(GO) build -o $(MAILPIT_DIR)/ github.com/axllent/mailpit

COVERAGE_DIR := $(CURDIR)/.contract-coverage

# What make test's tests did not run for want of PostgreSQL, Redis, promtool, a
# browser, HAProxy or the Node linters (internal/testkit/notrun): go test hides
# skips without -v, so tools/notrun lists them, one line each, at the end.
NOT_RUN_DIR := $(CURDIR)/.not-run

## test: lint, every test (PostgreSQL too when TEST_POSTGRES_URL is set; the Kubernetes
## manifests' test in deploy/k8s, a module of its own), then the
## contract coverage check (every operation and documented 2xx/4xx status exercised),
## and last one line per thing it did not run
test:
	@rm -rf $(COVERAGE_DIR) $(NOT_RUN_DIR) && mkdir -p $(COVERAGE_DIR) $(NOT_RUN_DIR)
	@TEST_NOT_RUN_DIR=$(NOT_RUN_DIR) $(MAKE) --no-print-directory lint
	TEST_NOT_RUN_DIR=$(NOT_RUN_DIR) CONTRACT_COVERAGE_DIR=$(COVERAGE_DIR) $(GO) test -count=1 ./...
	cd deploy/k8s && $(GO) test -count=1 ./...
	@$(MAKE) --no-print-directory example
	$(GO) run ./tools/contractcov $(COVERAGE_DIR)
	@$(GO) run ./tools/notrun $(NOT_RUN_DIR)

## example: build, vet and test examples/households, a third service adopting internalauth in a module
## of its own (the root's go test runs it against the real services: e2e/example_test.go)
example:
	cd examples/households && $(GO) build ./... && $(GO) vet ./... && $(GO) test -count=1 ./...

## race: the services' and the library's tests under the race detector (needs cgo and a C compiler; .ci/run runs it)
race:
	@if [ "$$(go env CGO_ENABLED)" != 1 ] || ! command -v "$$(go env CC)" >/dev/null 2>&1; then \
	  if [ "$$CI" = true ]; then echo "race: the race detector needs cgo and a C compiler, but CI=true"; exit 1; fi; \
	  echo "race: not run (the race detector needs cgo and a C compiler)"; exit 0; fi
	$(GO) test -race -count=1 ./services/... ./internalauth/...

# Under make test, a lint without the Node linters says so in make test's last lines too.
NOTE_NODE_LINT := test -z "$$TEST_NOT_RUN_DIR" || echo "Redocly and Spectral: the Node linters of the contracts and of the guide's example (make node-tools)" \
	> "$$TEST_NOT_RUN_DIR/node-lint"

## lint: go vet and a validation of both OpenAPI contracts
lint:
	@test -z "$$(gofmt -l services internalauth internal tools e2e deploy examples *.go)" || { gofmt -l services internalauth internal tools e2e deploy examples *.go; echo "gofmt needed"; exit 1; }
	@awk 'length > 140 { print FILENAME ":" FNR ": line over 140 characters"; bad = 1 } END { exit bad }' $$(find services -name '*.go')
	$(GO) vet ./...
	cd deploy/k8s && $(GO) vet ./...
	$(GO) run ./tools/speclint openapi-public.yaml openapi-internal.yaml
	@if [ -x node_modules/.bin/redocly ]; then $(REDOCLY) lint --format=stylish openapi-public.yaml openapi-internal.yaml; \
	  elif [ "$$CI" = true ]; then echo "lint: redocly is not installed but CI=true"; exit 1; \
	  else echo "lint: redocly lint skipped (run make node-tools to install it; CI always runs it)"; $(NOTE_NODE_LINT); fi
	@if [ -x node_modules/.bin/spectral ]; then node_modules/.bin/spectral lint --fail-severity=warn openapi-public.yaml openapi-internal.yaml; \
	  elif [ "$$CI" = true ]; then echo "lint: spectral is not installed but CI=true"; exit 1; \
	  else echo "lint: spectral (OWASP API Security ruleset) skipped (run make node-tools to install it; CI always runs it)"; \
	  $(NOTE_NODE_LINT); fi

## node-tools: Prism, Redocly, Spectral (with the OWASP ruleset) and playwright-core at the versions package-lock.json pins
node-tools:
	@command -v node >/dev/null 2>&1 || { echo "make: Node.js (20+) and npm are needed for this target; install them (Debian: apt-get install nodejs npm)"; exit 1; }
	@command -v npm >/dev/null 2>&1 || { echo "make: npm is needed for this target"; exit 1; }
	npm ci --no-audit --no-fund --loglevel=error

## contract: the second, independent validator (Stoplight Prism): the generated internal
## client against prism mock, and the end-to-end story through prism proxy
contract: node-tools
	PRISM_BIN=$(CURDIR)/node_modules/.bin/prism $(GO) test -count=1 -tags contract -run 'Prism' -v ./e2e/

REDOCLY := REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true $(CURDIR)/node_modules/.bin/redocly
# Redoc 3 loads one image from its CDN even with --inlineBundle (the "API docs by"
# logo); the pages must make no request off-host, so it is swapped for an empty
# inline SVG. The services also send a CSP that forbids any off-host load.
NO_CDN_LOGO := s|https://cdn.redoc.ly/redoc/logo-mini[a-z-]*\.svg|data:image/svg+xml,%3Csvg xmlns=%22http://www.w3.org/2000/svg%22/%3E|g

## docs: the docs site in docs/site/ (index, public and internal pages), self-contained;
## the services embed the two pages (committed, like gen/), so rerun after changing a contract
docs: node-tools
	mkdir -p docs/site
	$(REDOCLY) build-docs openapi-public.yaml --inlineBundle --title "jeeves4service public API" -o docs/site/public.html
	$(REDOCLY) build-docs openapi-internal.yaml --inlineBundle --title "jeeves4service internal API" -o docs/site/internal.html
	sed -i '$(NO_CDN_LOGO)' docs/site/public.html docs/site/internal.html
	gzip -n -9 -c docs/site/public.html > docs/site/public.html.gz
	gzip -n -9 -c docs/site/internal.html > docs/site/internal.html.gz
	cp api/docs/index.html docs/site/index.html
	sha256sum openapi-public.yaml openapi-internal.yaml > docs/site/SOURCES.sha256

## bench: each scenario beside its baseline in the same run, on SQLite, and on PostgreSQL
## too when TEST_POSTGRES_URL is set; prints a table and writes bench/results.json
BENCHFLAGS ?=
bench:
	@$(GO) run ./tools/bench $(BENCHFLAGS)

## bench-instructions: instructions per call (valgrind's callgrind) of the shipped property service
## against the limit in tools/bench/limit, with the per-layer breakdown, into bench/results.json
## and docs/performance.md; about 2 minutes
bench-instructions: build
	@if ! command -v valgrind >/dev/null 2>&1; then \
	  if [ "$$CI" = true ]; then echo "make bench-instructions: valgrind is not installed but CI=true"; exit 1; fi; \
	  echo "make bench-instructions: not run (valgrind is not installed; Debian: apt-get install valgrind)"; exit 0; fi; \
	$(GO) run ./tools/bench/instructions

## soak: a mixed workload for SOAK_DURATION (default 60s): zero unexpected answers, flat heap
SOAK_DURATION ?= 60s
soak:
	SOAK_DURATION=$(SOAK_DURATION) $(GO) test -count=1 -tags soak -run '^TestSoak$$' -timeout 30m -v ./e2e/

# Counts, not durations: with a duration, Go 1.26's fuzz coordinator can
# report its own deadline as a failure under load (go.dev/issue/75804, fixed
# in Go 1.27). About 10 s each on 2 cores; the database target is slower.
FUZZTIME ?= 50000x
FUZZTIME_DB ?= 5000x

## fuzz: a short run of each fuzz target (their seed corpora already run in make test)
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzMatch$$' -fuzztime $(FUZZTIME) ./internalauth
	$(GO) test -run '^$$' -fuzz '^FuzzVerify$$' -fuzztime $(FUZZTIME) ./services/common/jwtauth
	$(GO) test -run '^$$' -fuzz '^FuzzCreateProperty$$' -fuzztime $(FUZZTIME_DB) ./services/property
	$(GO) test -run '^$$' -fuzz '^FuzzPlanAgreesWithKinOpenAPI$$' -fuzztime $(FUZZTIME) ./services/common/validator
	$(GO) test -run '^$$' -fuzz '^FuzzAccessWritesWhatSlogWrites$$' -fuzztime $(FUZZTIME) ./services/common/logging
	$(GO) test -run '^$$' -fuzz '^FuzzCanonical$$' -fuzztime $(FUZZTIME) ./services/common/emailaddr

clean:
	rm -rf bin
