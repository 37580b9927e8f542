#!/usr/bin/env python3
"""The layering check (`make layering`): the import graph of src/ has no circle, across or
inside rooms, and every arrow between rooms goes down the house (ROOMS below).

Modules are found the way rustc finds them, from src/lib.rs through `mod` declarations
(`#[path]` included); `#[cfg(test)]` modules are tests. Arrows come from `use` trees and
from `crate::`/`super::` paths in code; a path through a module's `pub use` re-export points
at the module that defines the name. Circles are looked for among non-test modules; the room
rules hold for tests too.

Usage: hack/layering.py [--graph] [SRC]   (exit 1 on a violation, naming each)
"""
import os
import re
import sys
from collections import defaultdict

# Which rooms each room may import (besides itself). Bottom first; an arrow to a room not
# listed is a violation. `cli` may import only the root of `controller` (its `run`).
ROOMS = {
    "error": [],
    "vocabulary": [],
    "registry": [],
    "engine": ["registry", "vocabulary"],
    "api": ["vocabulary"],
    "audit": ["api", "engine", "registry", "vocabulary"],
    "cluster": ["api"],
    "verifier": ["audit", "api", "cluster", "engine", "error", "registry", "vocabulary"],
    "lint": ["audit", "api", "engine", "registry", "vocabulary"],
    "controller": ["verifier", "audit", "api", "cluster", "engine", "error", "registry", "vocabulary"],
    "cli": ["controller", "verifier", "lint", "audit", "api", "cluster", "engine", "error", "registry", "vocabulary"],
}
# Rooms whose internals only they may import: others see only the room's root module.
SEALED = {"controller": ["cli"]}


def strip(text):
    """The text without comments, string literals and char literals (paths only remain)."""
    out, i, n = [], 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            i = n if j < 0 else j
            continue
        if text.startswith("/*", i):
            depth, i = 1, i + 2
            while i < n and depth:
                if text.startswith("/*", i):
                    depth, i = depth + 1, i + 2
                elif text.startswith("*/", i):
                    depth, i = depth - 1, i + 2
                else:
                    i += 1
            continue
        prev = text[i - 1] if i else " "
        if c in "rb" and not (prev.isalnum() or prev == "_"):
            m = re.match(r'(?:br|rb|r)(#*)"', text[i:i + 10])
            if m:
                end = '"' + m.group(1)
                j = text.find(end, i + len(m.group(0)))
                out.append('""')
                i = n if j < 0 else j + len(end)
                continue
        if c == '"':
            i += 1
            while i < n and text[i] != '"':
                i += 2 if text[i] == "\\" else 1
            out.append('""')
            i += 1
            continue
        if c == "'":
            m = re.match(r"'(\\.[^']*|[^\\'])'", text[i:i + 12])
            if m:
                out.append("' '")
                i += len(m.group(0))
                continue
        out.append(c)
        i += 1
    return "".join(out)


MOD_RE = re.compile(r"((?:#\[[^\]]*\]\s*)*)(?:pub(?:\([^)]*\))?\s+)?mod\s+([A-Za-z_][A-Za-z0-9_]*)\s*([;{])")


def discover(src):
    """module path -> (file, is_test, stripped text); inline modules stay in their file."""
    mods = {}

    def visit(path, file, is_test, is_dir_owner):
        raw = open(file).read()
        text = strip(raw)
        mods[path] = (file, is_test, text)
        base = os.path.dirname(file)
        for m in MOD_RE.finditer(text):
            attrs, name, term = m.group(1), m.group(2), m.group(3)
            if term == "{":
                continue
            # A `mod x;` inside an inline block would need the block's path; none exist here.
            test = is_test or "cfg(test)" in attrs.replace(" ", "")
            pm = re.search(r'path\s*=\s*""', attrs)
            if pm:
                # strip() blanked the string: read it from the raw text at the same place.
                rm = re.search(r'#\[path\s*=\s*"([^"]+)"\]\s*(?:#\[[^\]]*\]\s*)*(?:pub(?:\([^)]*\))?\s+)?mod\s+' + name + r"\s*;", raw)
                child = os.path.join(base, rm.group(1))
            elif is_dir_owner:
                child = os.path.join(base, name + ".rs")
                if not os.path.exists(child):
                    child = os.path.join(base, name, "mod.rs")
            else:
                stem = os.path.join(base, os.path.splitext(os.path.basename(file))[0])
                child = os.path.join(stem, name + ".rs")
                if not os.path.exists(child):
                    child = os.path.join(stem, name, "mod.rs")
            owner = os.path.basename(child) == "mod.rs"
            visit(path + (name,), child, test, owner)

    visit((), os.path.join(src, "lib.rs"), False, True)
    return mods


def use_paths(tree):
    """Full paths (segment lists) in a `use` tree such as `a::{b, c::{d as e}, f::*}`."""
    tree = re.sub(r"\s+", " ", tree).strip()

    def split(s):
        items, depth, cur = [], 0, ""
        for ch in s:
            depth += ch == "{"
            depth -= ch == "}"
            if ch == "," and depth == 0:
                items.append(cur)
                cur = ""
            else:
                cur += ch
        return items + [cur]

    def rec(prefix, s):
        for it in split(s):
            it = it.strip()
            if not it:
                continue
            if "{" in it:
                head, rest = it.split("{", 1)
                rest = rest[: rest.rfind("}")]
                yield from rec(prefix + [x for x in head.replace(" ", "").split("::") if x], rest)
            else:
                it = re.sub(r"\s+as\s+\w+$", "", it)
                yield prefix + [x for x in it.replace(" ", "").split("::") if x and x != "*"]

    yield from rec([], tree)


USE_RE = re.compile(r"\b(pub(?:\([^)]*\))?\s+)?use\s+([^;]+);")
PATH_RE = re.compile(r"\b((?:crate|super)(?:::[A-Za-z_][A-Za-z0-9_]*)+)")


def inline_depth(text, pos):
    """How many inline `mod x { … }` blocks enclose `pos`."""
    stack = []
    for tok in re.finditer(r"\bmod\s+[A-Za-z_][A-Za-z0-9_]*\s*\{|\{|\}", text[:pos]):
        t = tok.group(0)
        if t == "}":
            if stack:
                stack.pop()
        else:
            stack.append(t != "{")
    return sum(stack)


def absolute(mods, cur, segs, depth):
    if not segs:
        return None
    if segs[0] == "crate":
        return segs[1:]
    base, i = list(cur), 0
    if segs[0] in ("super", "self"):
        while i < len(segs) and segs[i] in ("super", "self"):
            if segs[i] == "super":
                if depth:
                    depth -= 1
                else:
                    base = base[:-1]
            i += 1
        return base + segs[i:]
    if tuple(base + [segs[0]]) in mods:
        return base + segs
    return None


def graph(src):
    mods = discover(src)
    refs = {}
    for m, (_, _, text) in mods.items():
        found = []
        for um in USE_RE.finditer(text):
            depth = inline_depth(text, um.start())
            for p in use_paths(um.group(2)):
                a = absolute(mods, m, p, depth)
                if a is not None:
                    found.append((a, bool(um.group(1)) and depth == 0))
        code = USE_RE.sub(" ", text)
        for pm in PATH_RE.finditer(code):
            a = absolute(mods, m, pm.group(1).split("::"), inline_depth(code, pm.start()))
            if a is not None:
                found.append((a, False))
        refs[m] = found

    def owner(a):
        for k in range(len(a), -1, -1):
            if tuple(a[:k]) in mods:
                return tuple(a[:k]), a[k:]
        return None, a

    reexport = defaultdict(dict)
    for m, found in refs.items():
        for a, public in found:
            if public and a:
                t, _ = owner(a)
                if t is not None and t != m:
                    reexport[m][a[-1]] = t

    def target(a):
        t, rest = owner(a)
        if t is None:
            return None
        seen = 0
        while rest and rest[0] in reexport.get(t, {}) and seen < 8:
            t, rest, seen = reexport[t][rest[0]], rest[1:], seen + 1
        return t

    edges = defaultdict(set)
    for m, found in refs.items():
        for a, _ in found:
            t = target(a)
            if t is not None and t != m and t != ():
                edges[m].add(t)
    return mods, edges


def cycles(nodes, edges):
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]
    sys.setrecursionlimit(100000)

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges.get(v, ()):
            if w not in nodes:
                continue
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(nodes):
        if v not in index:
            visit(v)
    return out


def name(m):
    return "::".join(m) or "crate"


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    src = args[0] if args else os.path.join(os.path.dirname(__file__), "..", "src")
    mods, edges = graph(src)
    problems = []
    for m in sorted(mods):
        room = m[0] if m else None
        if room is not None and room not in ROOMS:
            problems.append(f"{name(m)}: room `{room}` is not in hack/layering.py's ROOMS")
    for a in sorted(edges):
        ra = a[0] if a else None
        for b in sorted(edges[a]):
            rb = b[0]
            if ra is None or ra == rb:
                continue
            file = os.path.relpath(mods[a][0])
            if rb not in ROOMS.get(ra, []):
                problems.append(f"{file}: {name(a)} imports {name(b)}: `{ra}` may not import `{rb}`")
            elif rb in SEALED and len(b) > 1:
                problems.append(f"{file}: {name(a)} imports {name(b)}: only the root of `{rb}` is open to `{ra}`")
    production = {m for m, (_, test, _) in mods.items() if not test}
    for comp in cycles(production, edges):
        problems.append("circle: " + " -> ".join(name(m) for m in comp))
    if "--graph" in sys.argv:
        rooms = defaultdict(set)
        for a, bs in edges.items():
            for b in bs:
                if a and a[0] != b[0]:
                    rooms[a[0]].add(b[0])
        for r in sorted(rooms):
            print(f"{r} -> {', '.join(sorted(rooms[r]))}")
    for p in problems:
        print(p, file=sys.stderr)
    if problems:
        print(f"layering: {len(problems)} violation(s) (rules in hack/layering.py)", file=sys.stderr)
        return 1
    print(f"layering: {len(mods)} modules, {sum(len(v) for v in edges.values())} arrows, no circle, every arrow down the house")
    return 0


if __name__ == "__main__":
    sys.exit(main())
