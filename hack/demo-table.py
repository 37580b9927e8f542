#!/usr/bin/env python3
"""Checks the demo's `kubectl get sourceaudits -A` table (hack/demo-check.sh).

argv[1]: the demo's output, whose table follows the line `$ kubectl get sourceaudits -A`.
stdin: the same table for the demo namespace only, as a user sees it; it must fit a 160-column
terminal (other namespaces' rows, e.g. an e2e test's being deleted, could widen the demo's own
printout).
"""
import re
import sys

# The five demo sources and the verdict each must get (hack/demo.sh signs them five ways).
EXPECTED = {
    "helmchart-signed-chart": ("True", "Verified"),
    "ocirepository-key-signed": ("True", "Verified"),
    "ocirepository-keyless-signed": ("True", "Verified"),
    "ocirepository-unsigned": ("False", "Unsigned"),
    "ocirepository-wrong-identity": ("False", "IdentityMismatch"),
}
# The short SIGNER column (src/audit/display.rs): GitHub workflows as owner/repo/file@ref.
SIGNERS = {
    "ocirepository-keyless-signed": "example/infra/publish.yml@refs/heads/main",
    "ocirepository-wrong-identity": "example/infra-fork/publish.yml@refs/heads/main",
    "ocirepository-unsigned": "",
}
MAX_WIDTH = 160


def parse(lines):
    """Rows of a kubectl table as dicts: cells are cut at the header's column starts (kubectl
    left-aligns every cell under its header, and a cell may be empty, e.g. an unsigned source's
    signer)."""
    header = lines[0]
    starts = [i for i, c in enumerate(header) if c != " " and (i == 0 or header[i - 1] == " ")]
    names = header.split()
    rows = []
    for line in lines[1:]:
        cells = [line[s:e].strip() for s, e in zip(starts, starts[1:] + [len(line)])]
        rows.append(dict(zip(names, cells)))
    return rows


def demo_table(text):
    lines = text.splitlines()
    try:
        at = lines.index("$ kubectl get sourceaudits -A")
    except ValueError:
        sys.exit("demo-check: the demo printed no `kubectl get sourceaudits -A` table")
    table = []
    for line in lines[at + 1 :]:
        if not line.strip():
            break
        table.append(line)
    return table


def check_verdicts(rows, what):
    got = {r["NAME"]: (r.get("VERIFIED"), r.get("REASON")) for r in rows if r.get("NAMESPACE") == "demo"}
    if got != EXPECTED:
        sys.exit(f"demo-check: {what}: expected verdicts {EXPECTED}, got {got}")


def main():
    with open(sys.argv[1], encoding="utf-8") as f:
        printed = demo_table(f.read())
    if not printed:
        sys.exit("demo-check: the demo's table is empty")
    check_verdicts(parse(printed), "the demo's table")
    alone = [l for l in sys.stdin.read().splitlines() if l.strip()]
    rows = parse(alone)
    check_verdicts(rows, "kubectl get sourceaudits -A (demo namespace)")
    signers = {r["NAME"]: r.get("SIGNER") for r in rows}
    for name, want in SIGNERS.items():
        if signers.get(name) != want:
            sys.exit(f"demo-check: {name}: SIGNER {signers.get(name)!r}, expected {want!r}")
    chart = signers.get("helmchart-signed-chart") or ""
    if not re.fullmatch(r"key openpgp:[0-9A-F]{12} Demo Chart Signer", chart):
        sys.exit(f"demo-check: helmchart-signed-chart: SIGNER {chart!r}, expected key openpgp:<12 hex> and its user ID's name")
    key = signers.get("ocirepository-key-signed") or ""
    if not re.fullmatch(r"key sha256:[0-9a-f]{12}", key):
        sys.exit(f"demo-check: ocirepository-key-signed: SIGNER {key!r}, expected key sha256:<12 hex>")
    wide = [l for l in alone if len(l) > MAX_WIDTH]
    if wide:
        sys.exit(f"demo-check: {len(wide)} lines wider than {MAX_WIDTH} columns:\n" + "\n".join(alone))


main()
