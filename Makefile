# provenance-auditor — see README.md. `make test` and `make demo` install what they need.
SHELL := bash
.DEFAULT_GOAL := help
CARGO ?= cargo
export PA_CACHE ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/provenance-auditor
# Tests and scripts find the real tools here (built once per machine, cached by version).
export COSIGN ?= $(PA_CACHE)/bin/cosign-v3.1.2/cosign
# kubectl at the stack's API server version (hack/tools.sh kubectl), ahead of any other.
export PATH := $(PA_CACHE)/bin/kubectl-v1.36.3:$(PATH)

-include mk/*.mk

.PHONY: help tools tools-unit layering lint test test-unit test-alerts demo bench-verify bench-controller
help:
	@echo "make demo          run the auditor against a local stack"
	@echo "make test          install what the tests need, then fmt, clippy, layering, all tests and demo-check"
	@echo "make layering      the import graph of src/: no circle, no arrow back up (docs/architecture.md)"
	@echo "make fuzz          the hostile-input property tests, 50 times longer, in release"
	@echo "make bench-verify  verify 100 signed artifacts, side by side with cosign"
	@echo "make bench-controller  audit 1,000 sources on the local stack"
	@echo "make stack-up / stack-down   the local stack (kube-apiserver, etcd, source-controller, registries)"

# Every tool the tests use, installed before any test runs (tests only check they are there).
tools: ## Debian packages and Go-built tools, cached per machine
	@hack/tools.sh test
# What the tests without Kubernetes need (the unit, interop and alert tests).
tools-unit:
	@hack/tools.sh apt cosign

# The import graph of src/: no circle, every arrow down the house (docs/architecture.md).
layering:
	@python3 hack/layering.py

lint: layering
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	@hack/check-self-contained.sh
	@hack/tools.sh apt actionlint
	"$$(hack/tools.sh path actionlint)" -no-color

# The hostile-input property tests run twice their base counts here (about 330,000 cases,
# under a minute of CPU); `make fuzz` runs them longer in release.
test-unit: export PA_FUZZ_SCALE ?= 2
test-unit: tools-unit ## everything that needs no Kubernetes: engine, registry, conformance, cosign interop
	$(CARGO) test --workspace --exclude provenance-e2e

test-alerts: tools-unit ## promtool: the alert rules parse, and every alert's unit test passes
	promtool check rules config/prometheus/rules.yaml
	promtool test rules config/prometheus/rules_test.yaml

# The steps, in order (hack/test.sh, which also prints each step's time and builds the Rust
# targets of the later steps in the background): tools lint test-alerts test-unit chart-check
# test-e2e demo-check. The e2e target (mk/stack.mk) brings the stack up or reuses a running
# one; demo-check (mk/demo.mk) reuses it after the e2e tests, so its controller never races
# theirs.
test:
	@MAKE="$(MAKE)" hack/test.sh

demo:
	@hack/demo.sh

bench-verify: tools
	@hack/bench-verify.sh

bench-controller: tools ## 1,000 sources on the local stack: time to audit all, RSS, steady-state CPU
	@hack/bench-controller.sh
