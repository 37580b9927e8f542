#!/usr/bin/env bash
# make image: the controller image, built without a Docker engine (Debian's podman/buildah) and
# without pulling anything: FROM scratch over a root filesystem assembled from the release binary
# and the machine's Debian packages (hack/image/rootfs.sh).
#
# Reproducible: the same commit (same binary, same Debian package versions, same podman) gives
# the same image ID and digest. SOURCE_DATE_EPOCH is the commit time; it is every file's mtime
# and, through --timestamp, the image's creation time; the layer is one COPY of a directory
# whose files buildah adds in sorted order with fixed modes.
#
# Env: IMAGE (default ghcr.io/provenance-dev/provenance-auditor:<crate version>),
#      IMAGE_NO_CACHE=1 to rebuild the image from its rootfs even if podman has it cached,
#      IMAGE_BINARY=FILE to package a release binary built elsewhere instead of building it.
# Prints the image ID on stdout; writes it to $CARGO_TARGET_DIR/image/image-id.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
log() { printf '[image] %s\n' "$*" >&2; }

VERSION=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n1)
REPOSITORY=ghcr.io/provenance-dev/provenance-auditor
IMAGE=${IMAGE:-$REPOSITORY:$VERSION}
SOURCE_URL=https://github.com/provenance-dev/provenance-auditor
REVISION=$(git rev-parse HEAD)
[ -z "$(git status --porcelain --untracked-files=no)" ] ||
  log "warning: the work tree has uncommitted changes; the revision label says $REVISION"
export CONTAINERS_CONF=${CONTAINERS_CONF:-$ROOT/hack/image/containers.conf}
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
STAGE=$TARGET/image

# podman, buildah, runc: `make image` (and `make tools`) install them; this script only checks.
hack/tools.sh check containers
mkdir -p "$STAGE"
# One build at a time per target directory: they share the staging directory.
exec {lock}>"$STAGE.lock"
flock "$lock"
BINARY=${IMAGE_BINARY:-}
if [ -z "$BINARY" ]; then
  log "cargo build --release (cold: many minutes on 2 cores; then cached in $TARGET/release)"
  ${CARGO:-cargo} build --quiet --release --locked -p provenance-auditor --bin provenance-auditor
  BINARY=$TARGET/release/provenance-auditor
fi
# Only now: aws-lc-sys's build script tracks SOURCE_DATE_EPOCH, so a release build with it set
# would not match the one `make test` and `cargo build --release` make without it, and would
# rebuild aws-lc and everything above it at every commit.
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct)}
hack/image/rootfs.sh "$BINARY" "$STAGE/rootfs"
cp Dockerfile "$STAGE/Dockerfile"

labels=(
  "org.opencontainers.image.source=$SOURCE_URL"
  "org.opencontainers.image.revision=$REVISION"
  "org.opencontainers.image.version=$VERSION"
  "org.opencontainers.image.created=$(date -u -d "@$SOURCE_DATE_EPOCH" +%Y-%m-%dT%H:%M:%SZ)"
  "org.opencontainers.image.title=provenance-auditor"
  "org.opencontainers.image.licenses=Apache-2.0"
  # Where glibc, libgcc and the CA certificates come from (rootfs.sh).
  "dev.provenance.debian-packages=$(paste -sd, "$STAGE/debian-packages")"
)
args=()
for l in "${labels[@]}"; do args+=(--label "$l" --annotation "$l"); done
[ "${IMAGE_NO_CACHE:-}" = 1 ] && args+=(--no-cache)
log "podman build $IMAGE (SOURCE_DATE_EPOCH=$SOURCE_DATE_EPOCH, revision $REVISION)"
podman build --quiet --pull=never --network=none --format oci --timestamp "$SOURCE_DATE_EPOCH" \
  "${args[@]}" -t "$IMAGE" -f "$STAGE/Dockerfile" "$STAGE" >/dev/null
id=$(podman image inspect --format '{{.Id}}' "$IMAGE")
echo "$id" >"$STAGE/image-id"
size=$(podman image inspect --format '{{.Size}}' "$IMAGE")
log "built $IMAGE: image ID sha256:$id, $((size / 1024 / 1024)) MiB uncompressed"
echo "$id"
