# Local stack (etcd, kube-apiserver, kube-controller-manager, registries, source-controller) and
# the end-to-end tests that run against it. See hack/stack/ and docs/flux-behaviour.md.
STACK_DIR ?= $(CURDIR)/.stack
export STACK_DIR

.PHONY: stack-up stack-down test-e2e
stack-up: ## start (or reuse) the local stack; writes $(STACK_DIR)/env and kubeconfigs
	@hack/stack/stack-up.sh

stack-down: ## stop exactly what stack-up started and remove $(STACK_DIR)
	@hack/stack/stack-down.sh

# Every e2e test binary, the image test last: it packages the release binary, which make test
# builds in the background meanwhile (hack/prebuild.sh); last, it finds it built instead of
# waiting for it. E2E_ARGS (e.g. "--test recheck_rounds") runs what it names instead.
E2E_TESTS := $(filter-out image,$(sort $(basename $(notdir $(wildcard e2e/tests/*.rs)))))

test-e2e: stack-up ## end-to-end tests against the real stack (cosign signs, source-controller verifies)
	@hack/tools.sh cosign
ifeq ($(strip $(E2E_ARGS)),)
	$(CARGO) test -p provenance-e2e --lib $(addprefix --test ,$(E2E_TESTS))
	$(CARGO) test -p provenance-e2e --test image
else
	$(CARGO) test -p provenance-e2e $(E2E_ARGS)
endif
