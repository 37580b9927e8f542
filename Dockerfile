# The provenance-auditor image: `make image` (hack/image/build.sh) builds it with podman, without
# a Docker engine and without pulling a base image. The build context is the directory
# hack/image/rootfs.sh assembles: the stripped release binary, glibc and libgcc from Debian 12
# (libc6, libgcc-s1), Debian's Mozilla CA certificates, /etc/passwd with uid 65532 "nonroot".
# No shell, no package manager. Reproducible: see hack/image/build.sh.
FROM scratch
COPY rootfs/ /
# The chart's and config/manager's securityContext run it as 65532 with a read-only root
# filesystem; the image says the same, so a plain `podman run` is not root either.
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/provenance-auditor"]
CMD ["run", "--metrics-addr=0.0.0.0:8080"]
