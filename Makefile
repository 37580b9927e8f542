# provenance-auditor — see README.md. `make test` and `make demo` install what they need.
SHELL := bash
.DEFAULT_GOAL := help
CARGO ?= cargo
export PA_CACHE ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/provenance-auditor

-include mk/*.mk

.PHONY: help
help:
	@echo "make demo    run the auditor against a local stack"
	@echo "make test    install what the tests need, then fmt, clippy and all tests"
