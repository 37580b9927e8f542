# `make demo` proven in CI: demo-check runs the demo the way a fresh clone does and checks its
# final table (hack/demo-check.sh). It shares the stack with test-e2e, so `make test` runs it
# after the e2e tests, and it stops the demo's controller and Prometheus when done.
.PHONY: demo-check
demo-check: tools
	@hack/demo-check.sh
