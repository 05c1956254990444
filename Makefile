# alicom-drain. The two commands a newcomer needs:
#   make demo   runs the drain on the embedded emulator with sample messages
#   make test   runs every test (vet, race detector)
GO      ?= go
BIN     := bin
DIST    := dist
EVENT   ?= events/fc-timer.json
# Static Linux binaries for both platforms' x86_64 runtimes, stripped.
GOLINUX := CGO_ENABLED=0 GOOS=linux GOARCH=amd64 $(GO) build -trimpath -ldflags="-s -w"

.PHONY: demo demo-push test bench lint build build-fc build-lambda invoke emulator \
        deploy-fc deploy-aws clean build-DrainFunction build-NotifyFunction run-notify

demo: ## Start the emulator, enqueue sample receipts like Alicom does, run one drain, show the result.
	$(GO) build -o $(BIN)/alicom-drain ./functions/alicom-drain
	$(GO) run ./cmd/demo -function $(BIN)/alicom-drain

demo-push: ## the topic push guide's walk-through: topic, push endpoint, three signed pushes, verified and handled.
	$(GO) run ./cmd/mnsctl demo-push

test: ## Vet, then every test with the race detector.
	$(GO) vet ./...
	$(GO) test -race -count=1 -timeout 20m ./...

bench: ## The drain against the official demos' loops, then the per-message CPU benchmarks.
	$(GO) run ./cmd/bench
	$(GO) test -run '^$$' -bench . -benchmem ./shared/alicom ./shared/dispatch ./shared/mnslocal ./internal/queue

lint: ## gofmt and go vet.
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

build: build-fc build-lambda ## Deployment zips for Function Compute (main) and Lambda (bootstrap).

build-fc:
	$(GOLINUX) -o $(DIST)/fc/alicom-drain/main ./functions/alicom-drain
	$(GOLINUX) -o $(DIST)/fc/mns-notify/main ./functions/mns-notify
	$(GO) run ./cmd/distzip -o $(DIST)/alicom-drain-fc.zip $(DIST)/fc/alicom-drain/main
	$(GO) run ./cmd/distzip -o $(DIST)/mns-notify-fc.zip $(DIST)/fc/mns-notify/main

build-lambda:
	$(GOLINUX) -tags lambda.norpc -o $(DIST)/lambda/alicom-drain/bootstrap ./functions/alicom-drain
	$(GOLINUX) -tags lambda.norpc -o $(DIST)/lambda/mns-notify/bootstrap ./functions/mns-notify
	$(GO) run ./cmd/distzip -o $(DIST)/alicom-drain-lambda.zip $(DIST)/lambda/alicom-drain/bootstrap
	$(GO) run ./cmd/distzip -o $(DIST)/mns-notify-lambda.zip $(DIST)/lambda/mns-notify/bootstrap

# AWS SAM's makefile build method calls these with ARTIFACTS_DIR set.
build-DrainFunction:
	$(GOLINUX) -tags lambda.norpc -o $(ARTIFACTS_DIR)/bootstrap ./functions/alicom-drain
build-NotifyFunction:
	$(GOLINUX) -tags lambda.norpc -o $(ARTIFACTS_DIR)/bootstrap ./functions/mns-notify

invoke: ## One local invocation with the configuration in your environment: make invoke EVENT=events/lambda-schedule.json
	$(GO) run ./functions/alicom-drain -event $(EVENT)

run-notify: ## The push endpoint on plain HTTP, trusting the local emulator's certificate URL.
	MNS_CERT_URL_ALLOW=http://127.0.0.1:9911/_mnslocal/ $(GO) run ./functions/mns-notify -listen 127.0.0.1:8080

emulator: ## Serve the MNS + Dybaseapi emulator on 127.0.0.1:9911 until Ctrl-C.
	$(GO) run ./cmd/mnslocal

deploy-fc: build-fc ## Deploy both functions to Function Compute with Serverless Devs (s).
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
