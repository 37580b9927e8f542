# Local stack (etcd, kube-apiserver, kube-controller-manager, registries, source-controller) and
# the end-to-end tests that run against it. See hack/stack/ and docs/flux-behaviour.md.
STACK_DIR ?= $(CURDIR)/.stack
export STACK_DIR

.PHONY: stack-up stack-down test-e2e
stack-up: ## start (or reuse) the local stack; writes $(STACK_DIR)/env and kubeconfigs
	@hack/stack/stack-up.sh

stack-down: ## stop exactly what stack-up started and remove $(STACK_DIR)
	@hack/stack/stack-down.sh

test-e2e: stack-up ## end-to-end tests against the real stack (cosign signs, source-controller verifies)
	@hack/tools.sh cosign
	$(CARGO) test -p provenance-e2e $(E2E_ARGS)
