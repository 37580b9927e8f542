#!/usr/bin/env bash
# hack/image/rootfs.sh BINARY ROOTFS: assembles the image's root filesystem in ROOTFS.
#
# Only what the binary needs at run time: the stripped binary, the shared libraries it links
# (glibc and libgcc, taken from the machine's installed Debian packages libc6 and libgcc-s1 and
# their copyright files), the Mozilla CA certificates of Debian's ca-certificates, and
# /etc/passwd and /etc/group naming uid/gid 65532 "nonroot". No shell, no package manager.
# Every file gets a fixed mode and SOURCE_DATE_EPOCH as its mtime, so the layer is reproducible.
set -euo pipefail
BINARY=$1 ROOTFS=$2
: "${SOURCE_DATE_EPOCH:?SOURCE_DATE_EPOCH must be set (the commit time)}"
die() { printf '[image] ERROR: %s\n' "$*" >&2; exit 1; }

rm -rf "$ROOTFS"
mkdir -p "$ROOTFS"/{etc/ssl/certs,usr/local/bin,usr/share/doc,tmp}
# Symbols are not needed to run (panics still print the message); strip is deterministic.
strip --strip-all -o "$ROOTFS/usr/local/bin/provenance-auditor" "$BINARY"

# package_of FILE: the Debian package that installed FILE (resolving /lib → /usr/lib, merged-usr).
package_of() {
  local f=$1 p
  for p in "$f" "$(readlink -f "$f")" "${f#/usr}" "/usr$f"; do
    dpkg-query -S "$p" 2>/dev/null | sed -n '1s/: .*//p' | grep . && return 0
  done
  return 1
}
declare -A packages=()
# Every library the dynamic loader resolves, at the path it resolves it to (the loader itself is
# the binary's PT_INTERP, /lib64/ld-linux-x86-64.so.2). Only Debian's libc6 and libgcc-s1 may
# provide them: anything else would be an unreviewed dependency of the image.
while read -r lib; do
  pkg=$(package_of "$lib") || die "$lib belongs to no Debian package"
  case ${pkg%%:*} in libc6 | libgcc-s1) ;; *) die "$lib comes from $pkg, not libc6 or libgcc-s1" ;; esac
  packages[${pkg%%:*}]=1
  mkdir -p "$ROOTFS$(dirname "$lib")"
  cp -L "$lib" "$ROOTFS$lib"
done < <(ldd "$BINARY" | sed -n 's/.*=> \(\/[^ ]*\) (0x.*/\1/p; s/^[[:space:]]*\(\/[^ ]*\) (0x.*/\1/p' | sort -u)
[ -n "${packages[libc6]:-}" ] || die "ldd found no glibc: is $BINARY dynamically linked?"

# CA certificates: the package's Mozilla set in a fixed order (not /etc/ssl/certs, which a
# machine's administrator may have extended).
dpkg-query -L ca-certificates | grep '^/usr/share/ca-certificates/mozilla/.*\.crt$' | LC_ALL=C sort |
  xargs cat >"$ROOTFS/etc/ssl/certs/ca-certificates.crt"
[ -s "$ROOTFS/etc/ssl/certs/ca-certificates.crt" ] || die "no CA certificates (apt-get install ca-certificates)"
packages[ca-certificates]=1

# Licences travel with the binaries they cover; the versions go to a label (hack/image/build.sh).
: >"$ROOTFS/../debian-packages"
for pkg in $(printf '%s\n' "${!packages[@]}" | LC_ALL=C sort); do
  mkdir -p "$ROOTFS/usr/share/doc/$pkg"
  cp "/usr/share/doc/$pkg/copyright" "$ROOTFS/usr/share/doc/$pkg/copyright"
  printf '%s=%s\n' "$pkg" "$(dpkg-query -W -f '${Version}' "$pkg")" >>"$ROOTFS/../debian-packages"
done

printf '%s\n' 'root:x:0:0:root:/root:/sbin/nologin' 'nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin' \
  >"$ROOTFS/etc/passwd"
printf '%s\n' 'root:x:0:' 'nonroot:x:65532:' >"$ROOTFS/etc/group"
# glibc's defaults without a file differ by version; say it.
printf '%s\n' 'passwd: files' 'group: files' 'hosts: files dns' >"$ROOTFS/etc/nsswitch.conf"

# Fixed modes and times: nothing of the build machine's umask or clock reaches the layer.
find "$ROOTFS" -type d -exec chmod 0755 {} +
find "$ROOTFS" -type f -exec chmod 0644 {} +
# The kernel opens the loader (PT_INTERP) for execution: it needs its x bit, like the binary.
chmod 0755 "$ROOTFS/usr/local/bin/provenance-auditor"
find "$ROOTFS" -type f -name '*.so*' -exec chmod 0755 {} +
chmod 1777 "$ROOTFS/tmp"
find "$ROOTFS" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
