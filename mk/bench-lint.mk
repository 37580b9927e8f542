# `lint` over the vendored real-repository corpus and a synthetic scale-up of it to 1,300+ files
# (release build): wall time (median) and peak memory, one line per input. BENCH_RUNS and
# BENCH_FILES tune it.
.PHONY: bench-lint
bench-lint: ## lint's wall time and peak memory on the real-repository corpus, release build
	@hack/bench-lint.sh
