# The controller image (hack/image/): FROM scratch, glibc/libgcc/CA certificates from Debian
# packages, reproducible. Built with podman; no Docker engine, nothing pulled.
.PHONY: image
image: ## build ghcr.io/provenance-dev/provenance-auditor:<version> (IMAGE=... to rename)
	@hack/tools.sh containers
	@hack/image/build.sh >/dev/null
