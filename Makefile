# tracker — see README.md. `make demo` runs the product, `make test` the tests.
GO       ?= go
BIN      ?= bin/tracker
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -X main.version=$(VERSION)
PKGS     := ./...
STATICCHECK ?= $(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2

.PHONY: all build ui ui-test demo test test-short bench lint fmt clean

all: build

build: ui
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/tracker

## ui: npm packages from the lockfile, bundled into ui/dist (embedded by go build)
ui:
	cd ui && npm ci --no-audit --no-fund --loglevel=error && npm run build

ui-test:
	cd ui && npm test

## demo: everything embedded (broker, model, simulator, UI on http://127.0.0.1:8080)
demo: build
	./$(BIN) demo $(DEMO_FLAGS)

## test: lint, then every test (real broker over TCP; kcat/chromium parts skip when absent)
test: lint ui ui-test
	$(GO) test -count=1 -timeout 20m $(PKGS)
	ENGINE_TEST_GROUP_COMMIT=1000 $(GO) test -count=1 -timeout 10m ./engine

test-short:
	$(GO) test -short -count=1 $(PKGS)

## bench: Go benchmarks and the ingest benchmark command
bench: build
	$(GO) test -run '^$$' -bench . -benchtime 1x $(PKGS)
	./$(BIN) bench ingest

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)
	$(STATICCHECK) $(PKGS)

fmt:
	gofmt -w $$(git ls-files '*.go')

clean:
	rm -rf bin data ui/node_modules
	find ui/dist -mindepth 1 ! -name .gitkeep -delete
