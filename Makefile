# alicom-drain. The two commands a newcomer needs:
#   make demo   runs the drain on the embedded emulator with sample messages
#   make test   runs every test (vet, race detector)
GO      ?= go
BIN     := bin
DIST    := dist
EVENT   ?= events/fc-timer.json
# Static Linux binaries for both platforms' x86_64 runtimes, stripped.
GOLINUX := CGO_ENABLED=0 GOOS=linux GOARCH=amd64 $(GO) build -trimpath -ldflags="-s -w"

FUNCTIONS := alicom-drain alicom-push

.PHONY: demo demo-push demo-alicom-push demo-webhook test bench lint build build-fc build-lambda invoke emulator \
        deploy-fc deploy-aws clean build-DrainFunction build-PushFunction run-push

demo: ## Start the emulator, enqueue sample receipts like Alicom does, run one drain, show the result.
	$(GO) build -o $(BIN)/alicom-drain ./functions/alicom-drain
	$(GO) run ./cmd/demo -function $(BIN)/alicom-drain

demo-push: ## The MNS topic push guide's walk-through: topic, push endpoint, three signed pushes, verified and handled.
	$(GO) run ./cmd/mnsctl demo-push

demo-alicom-push: ## Alicom's HTTP batch push played by the emulator against the push function's handler: typed handlers, log sink, a failing sink and Alicom's retry, duplicates, a wrong token.
	$(GO) run ./cmd/mnsctl demo-alicom-push

demo-webhook: ## The webhook sink: a local receiver verifying Standard Webhooks signatures, an outage, the recovery.
	$(GO) build -o $(BIN)/alicom-drain ./functions/alicom-drain
	$(GO) run ./cmd/demo-webhook -function $(BIN)/alicom-drain

test: ## Vet, then every test with the race detector.
	$(GO) vet ./...
	$(GO) test -race -count=1 -timeout 20m ./...

bench: ## The drain against the official demos' loops, then the per-message CPU benchmarks.
	$(GO) run ./cmd/bench
	$(GO) test -run '^$$' -bench . -benchmem ./shared/alicom ./shared/dispatch ./internal/drain ./shared/mnslocal ./internal/queue/mnsqueue ./internal/sink ./internal/push

lint: ## gofmt, go vet, the import rules of docs/architecture.md, the deployment descriptors (cfn-lint when installed).
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) test -count=1 -run 'TestImportRules|TestDescriptors' ./internal/platform
	@if command -v cfn-lint >/dev/null; then echo cfn-lint template.yml; cfn-lint template.yml; \
	 else echo "cfn-lint not installed: template.yml not linted (pip install cfn-lint)"; fi

build: build-fc build-lambda ## Deployment zips for Function Compute (main) and Lambda (bootstrap).

build-fc: $(FUNCTIONS:%=build-fc-%)

build-lambda: $(FUNCTIONS:%=build-lambda-%)

# One function each, so that s.yaml's pre-deploy of a resource builds that function only, once.
build-fc-%:
	$(GOLINUX) -o $(DIST)/fc/$*/main ./functions/$*
	$(GO) run ./cmd/distzip -o $(DIST)/$*-fc.zip $(DIST)/fc/$*/main

build-lambda-%:
	$(GOLINUX) -tags lambda.norpc -o $(DIST)/lambda/$*/bootstrap ./functions/$*
	$(GO) run ./cmd/distzip -o $(DIST)/$*-lambda.zip $(DIST)/lambda/$*/bootstrap

# AWS SAM's makefile build method calls these with ARTIFACTS_DIR set.
build-DrainFunction:
	$(GOLINUX) -tags lambda.norpc -o $(ARTIFACTS_DIR)/bootstrap ./functions/alicom-drain
build-PushFunction:
	$(GOLINUX) -tags lambda.norpc -o $(ARTIFACTS_DIR)/bootstrap ./functions/alicom-push

# Only the report reaches stdout (the recipe is not echoed), so `make invoke | jq .` works.
invoke: ## One local invocation with the configuration in your environment: make invoke EVENT=events/lambda-schedule.json
	@$(GO) build -o $(BIN)/alicom-drain ./functions/alicom-drain
	@$(BIN)/alicom-drain -event $(EVENT)

run-push: ## The push function on plain HTTP, trusting the local emulator's certificate URL.
	MNS_CERT_URL_ALLOW=http://127.0.0.1:9911/_mnslocal/ $(GO) run ./functions/alicom-push -listen 127.0.0.1:8080

emulator: ## Serve the MNS + Dybaseapi emulator on 127.0.0.1:9911 until Ctrl-C.
	$(GO) run ./cmd/mnslocal

deploy-fc: ## Deploy both functions to Function Compute with Serverless Devs (s); s.yaml builds each once.
	s deploy -y

deploy-aws: ## Build and deploy both functions to Lambda with AWS SAM.
	sam build && sam deploy --guided

clean:
	rm -rf $(BIN) $(DIST) .aws-sam

.PHONY: chaos bench-doc
chaos: ## The fault matrix (docs/chaos.md): the function binary against the emulator behind a fault proxy; a ✗ cell does not stop the run. make test runs its short subset.
	$(GO) run ./cmd/chaos -out docs/chaos.md

bench-doc: ## Regenerate docs/performance.md and docs/throughput.svg (several minutes).
	$(GO) run ./cmd/bench -repeat 3 -gotest -out docs/performance.md -svg docs/throughput.svg
