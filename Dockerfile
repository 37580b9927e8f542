# syntax=docker/dockerfile:1
# The provenance-auditor image: a release build of the binary on distroless, running as the
# distroless "nonroot" user (65532), which the Helm chart and config/manager expect.
#
#   docker build -t ghcr.io/provenance-dev/provenance-auditor:0.1.0 .
#
# NOTE: not built in this repository's CI or tests: the development machines have no Docker
# engine (and no container registry to pull the base images from). The tests run the same binary
# out of cluster instead, with the chart's ServiceAccount token.

FROM docker.io/library/rust:1.89-bookworm AS build
WORKDIR /src
# Dependencies first, so that a source change does not rebuild them.
COPY Cargo.toml Cargo.lock ./
COPY e2e/Cargo.toml e2e/Cargo.toml
COPY testing testing
RUN mkdir -p src e2e/src \
 && echo 'fn main() {}' > src/main.rs && touch src/lib.rs e2e/src/lib.rs \
 && cargo build --release --locked --bin provenance-auditor \
 && rm -rf src e2e/src
COPY src src
COPY e2e/src e2e/src
# Make cargo see the real sources as newer than the dummy build above.
RUN touch src/main.rs src/lib.rs \
 && cargo build --release --locked --bin provenance-auditor \
 && cp target/release/provenance-auditor /provenance-auditor

# glibc and libgcc from the distroless "cc" image: the binary links them dynamically (aws-lc-rs);
# nothing else (no shell, no package manager).
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /provenance-auditor /usr/local/bin/provenance-auditor
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/provenance-auditor"]
CMD ["run", "--metrics-addr=0.0.0.0:8080"]
