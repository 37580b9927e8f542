# Hostile-input property tests, run long: the same properties `make test` runs (a few hundred
# thousand cases in all), with PA_FUZZ_SCALE times the cases, optimised. FUZZ_SCALE=200 is about
# 50 million cases; each property prints its failing input, shrunk, if one is found.
FUZZ_SCALE ?= 50

.PHONY: fuzz
fuzz: ## hostile-input property tests with FUZZ_SCALE× the cases of `make test`
	PA_FUZZ_SCALE=$(FUZZ_SCALE) $(CARGO) test --release --lib registry::proptest_tests
	PA_FUZZ_SCALE=$(FUZZ_SCALE) $(CARGO) test --release --test parsers_proptest
