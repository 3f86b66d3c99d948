# Everything runs through the Go toolchain; generators are pinned in go.mod
# with the tool directive and run with `go tool`.
GO ?= go
OAPI := $(GO) tool oapi-codegen

.PHONY: all generate build run test lint clean

all: build

## generate: regenerate gen/ from the OpenAPI contracts and the SQL (never edit gen/ by hand)
generate:
	$(OAPI) -config api/userapi.yaml openapi-public.yaml
	$(OAPI) -config api/propertyapi.yaml openapi-public.yaml
	$(OAPI) -config api/internalapi.yaml openapi-internal.yaml
	$(GO) tool sqlc generate

## build: both binaries into bin/
build:
	$(GO) build -o bin/user-service ./services/user/cmd/user-service
	$(GO) build -o bin/property-service ./services/property/cmd/property-service

## run: both services on SQLite under ./data with a fresh random internal token; Ctrl-C stops both
run: build
	$(GO) build -o bin/devrun ./tools/devrun
	bin/devrun

## test: vet, the contract lint, and every test (PostgreSQL too when TEST_POSTGRES_URL is set)
test: lint
	$(GO) test -count=1 ./...

## lint: go vet and a validation of both OpenAPI contracts
lint:
	@test -z "$$(gofmt -l services tools e2e *.go)" || { gofmt -l services tools e2e *.go; echo "gofmt needed"; exit 1; }
	$(GO) vet ./...
	$(GO) run ./tools/speclint openapi-public.yaml openapi-internal.yaml

clean:
	rm -rf bin
