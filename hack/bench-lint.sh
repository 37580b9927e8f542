#!/usr/bin/env bash
# make bench-lint: the release binary linting (1) the vendored real-repository corpus
# (tests/data/realrepos, the four repositories together) and (2) a synthetic scale-up of it to
# at least BENCH_FILES files (default 1,300): copies of the corpus side by side, each copy its own
# repository, as a platform monorepo of several fleets would be. Wall time is the median of
# BENCH_RUNS runs (default 5), peak memory the largest maximum resident set size among them
# (GNU time), CPU the median user+system seconds (what wall time is on an idle machine: lint is
# single-threaded). Prints one line per input, and the machine's load average, since other work
# on a shared machine stretches wall time.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
RUNS=${BENCH_RUNS:-5}
WANT=${BENCH_FILES:-1300}
CORPUS=$ROOT/tests/data/realrepos

echo "[bench] building the release binary…" >&2
(cd "$ROOT" && cargo build --release --quiet -p provenance-auditor --bin provenance-auditor)
PA=${CARGO_TARGET_DIR:-$ROOT/target}/release/provenance-auditor

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

yaml_files() { find "$1" -type f \( -name '*.yaml' -o -name '*.yml' \) | wc -l; }

# The scale-up: whole copies of the corpus until there are WANT files or more.
per_copy=$(yaml_files "$CORPUS")
copies=$(( (WANT + per_copy - 1) / per_copy ))
for i in $(seq "$copies"); do
  mkdir -p "$work/scaled/copy-$i"
  cp -r "$CORPUS"/. "$work/scaled/copy-$i/"
done

bench() {
  local label=$1 input=$2 files bytes times=() cpus=() peak=0 rc=0 secs kib user sys
  files=$(yaml_files "$input")
  bytes=$(find "$input" -type f \( -name '*.yaml' -o -name '*.yml' \) -printf '%s\n' | awk '{s+=$1} END {print s}')
  # lint exits 1 on error findings (expected here), 2 when an input could not be read (not).
  "$PA" lint "$input" -o json >/dev/null 2>&1 || rc=$?
  if [ "$rc" = 2 ]; then
    echo "[bench] $label: lint exited 2 (an input could not be read)" >&2
    exit 1
  fi
  for _ in $(seq "$RUNS"); do
    /usr/bin/time -f '%e %M %U %S' -o "$work/time" "$PA" lint "$input" -o json >/dev/null 2>&1 || true
    # GNU time puts "Command exited with non-zero status 1" first when lint exits 1.
    read -r secs kib user sys < <(tail -1 "$work/time")
    times+=("$secs")
    cpus+=("$(awk -v u="$user" -v s="$sys" 'BEGIN {printf "%.2f", u + s}')")
    if (( kib > peak )); then peak=$kib; fi
  done
  median=$(printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
  cpu=$(printf '%s\n' "${cpus[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
  printf 'bench-lint: %s: %d files (%d KiB), release build, %d cores: wall %s s, CPU %s s (medians of %d), peak RSS %d MiB, load average %s\n' \
    "$label" "$files" $((bytes / 1024)) "$(nproc)" "$median" "$cpu" "$RUNS" $((peak / 1024)) "$(cut -d' ' -f1 /proc/loadavg)"
}

bench "corpus (4 real repositories)" "$CORPUS"
bench "largest repository (bjw-s-labs/home-ops)" "$CORPUS/bjw-s-labs+home-ops"
bench "scale-up (${copies} copies of the corpus)" "$work/scaled"
