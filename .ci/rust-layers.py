#!/usr/bin/env python3
"""Checks that the modules of rust/ import one way: no cycle, and each layer only below itself.

Reads every rust/**/*.rs (not rust/fuzz, a separate crate), finds the module paths each file names
(`use` trees and inline `crate::`/`super::`/`self::` paths, comments and strings removed), and
builds two graphs:

- between the top-level modules of the crate (`protocol`, `server`, `log`, ...): it must follow
  LAYERS below, where a module may import only modules of a lower layer;
- between the files of each folder (`protocol/h1/head.rs` -> `protocol/h1/body.rs`): it must have
  no cycle. A module and its own children are one unit here (a child's `super::` is no edge), and
  a name reached through a parent's `pub use` counts as the parent's: that keeps the check cheap.

A script rather than `cargo modules dependencies --acyclic`: cargo-modules builds rust-analyzer's
crates (minutes of build for one check) and reads only one level; this runs in well under a
second with the standard library alone. Usage: python3 .ci/rust-layers.py [--graph]
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent / "rust"

# Top to bottom: a module may import only modules of the layers after its own.
LAYERS: list[set[str]] = [
    {"lib"},  # the extension module's registration
    {"bridge"},  # what Python sees (pyo3)
    {"bench"},  # the load generator behind `covetpy bench`
    {"server"},  # IO threads, the HTTP/1.1 and HTTP/2 connections, drain
    {"tls"},  # rustls: certificates by SNI, reloads, handshakes, client identities
    {"pipeline"},  # route, admit, middleware, dispatch, respond, record: no protocol framing
    {"middleware", "auth"},  # built-in middleware; authentication and route requirements
    {"websocket"},  # WebSocket sessions and topics, between connections and handlers
    {"io"},  # epoll and io_uring behind one trait
    {"config", "log", "client"},
    {"mesh", "metrics", "router"},
    {"protocol"},  # wire protocols and the response value, sans-IO
]

USE_RE = re.compile(r"\buse\s+([^;]*);", re.S)
INLINE_RE = re.compile(r"(?<![\w:])\$?(crate|super|self)((?:\s*::\s*[A-Za-z_]\w*)+)")
MOD_DECL_RE = re.compile(r"((?:#\[[^\]]*\]\s*)*)(?:pub(?:\([^)]*\))?\s+)?\bmod\s+(\w+)\s*([;{])")
PATH_ATTR_RE = re.compile(r"#\[path\s*=\s*\"([^\"]+)\"\]")


def strip(src: str, strings: bool = True) -> str:
    """Source with comments (and unless `strings` is false, string and char literals) blanked."""
    out: list[str] = []
    i, n = 0, len(src)
    while i < n:
        c = src[i]
        if src.startswith("//", i):
            j = src.find("\n", i)
            i = n if j < 0 else j
        elif src.startswith("/*", i):
            depth, i = 1, i + 2
            while i < n and depth:
                if src.startswith("/*", i):
                    depth, i = depth + 1, i + 2
                elif src.startswith("*/", i):
                    depth, i = depth - 1, i + 2
                else:
                    i += 1
            out.append(" ")
        elif not strings:
            out.append(c)
            i += 1
        elif (m := re.compile(r'b?r(#*)"').match(src, i)) and (i == 0 or not src[i - 1].isalnum()):
            end = src.find('"' + m.group(1), m.end())
            i = n if end < 0 else end + 1 + len(m.group(1))
            out.append('""')
        elif c == '"':
            i += 1
            while i < n and src[i] != '"':
                i += 2 if src[i] == "\\" else 1
            i += 1
            out.append('""')
        elif c == "'" and (m := re.compile(r"'(\\.[^']*|[^\\'])'").match(src, i)):
            i = m.end()
            out.append("' '")
        else:
            out.append(c)
            i += 1
    return "".join(out)


def expand(tree: str) -> list[list[str]]:
    """The paths of a `use` tree: `a::{b, c::{d as e, *}}` -> [a,b], [a,c,d], [a,c]."""
    tree = re.sub(r"\s+", "", tree)
    paths: list[list[str]] = []

    def walk(prefix: list[str], s: str) -> None:
        depth, start, parts = 0, 0, []
        for k, ch in enumerate(s):
            depth += ch == "{"
            depth -= ch == "}"
            if ch == "," and depth == 0:
                parts.append(s[start:k])
                start = k + 1
        parts.append(s[start:])
        for part in filter(None, parts):
            brace = part.find("{")
            if brace >= 0:
                head = [x for x in part[:brace].split("::") if x]
                walk(prefix + head, part[brace + 1 : part.rindex("}")])
                continue
            segs = part.split("as")[0] if re.search(r"\bas\b", part) else part
            segs_l = [x for x in re.split(r"::|\bas\b", segs) if x and x != "*"]
            if segs_l and segs_l[-1] == "self":
                segs_l.pop()
            paths.append(prefix + segs_l)

    walk([], tree.removeprefix("::"))
    return paths


class Crate:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.files: dict[tuple[str, ...], Path] = {}  # module path -> file
        self.module_of: dict[Path, tuple[str, ...]] = {}
        self._load(root / "lib.rs", ())

    def _load(self, path: Path, module: tuple[str, ...]) -> None:
        self.files[module] = path
        self.module_of[path] = module
        text = strip(path.read_text(), strings=False)
        mod_rs = path.name in ("mod.rs", "lib.rs")
        for m in MOD_DECL_RE.finditer(text):
            attr_m = PATH_ATTR_RE.search(m.group(1))
            attr, name, end = attr_m and attr_m.group(1), m.group(2), m.group(3)
            if end == "{":
                continue  # inline module: part of this file
            if attr:
                child = path.parent / attr
            else:
                base = path.parent if mod_rs else path.parent / path.stem
                child = base / f"{name}.rs"
                if not child.exists():
                    child = base / name / "mod.rs"
            self._load(child, (*module, name))

    def unit(self, module: tuple[str, ...]) -> tuple[str, ...]:
        """The longest prefix of `module` that is a file's module."""
        while module and module not in self.files:
            module = module[:-1]
        return module

    def references(self, path: Path) -> set[tuple[str, ...]]:
        """The file modules this file names."""
        here = self.module_of[path]
        text = strip(path.read_text())
        # Inline `mod x { ... }` blocks shift `super`/`self` for what they contain.
        scopes: list[tuple[int, int, str]] = []
        for m in MOD_DECL_RE.finditer(text):
            if m.group(3) == "{":
                depth, k = 1, m.end()
                while k < len(text) and depth:
                    depth += text[k] == "{"
                    depth -= text[k] == "}"
                    k += 1
                scopes.append((m.end(), k, m.group(2)))

        def module_at(pos: int) -> tuple[str, ...]:
            inner = [name for start, end, name in scopes if start <= pos < end]
            return here + tuple(inner)

        refs: set[tuple[str, ...]] = set()

        def resolve(segs: list[str], pos: int) -> None:
            base = module_at(pos)
            if not segs:
                return
            if segs[0] == "crate":
                target, rest = (), segs[1:]
            elif segs[0] in ("super", "self"):
                target, rest = base, segs
                while rest and rest[0] in ("super", "self"):
                    target = target[:-1] if rest[0] == "super" else target
                    rest = rest[1:]
            elif (*base, segs[0]) in self.files:  # a child module named relatively
                target, rest = base, segs
            else:
                return  # another crate, or an item in scope
            refs.add(self.unit(target + tuple(rest)))

        for m in USE_RE.finditer(text):
            for segs in expand(m.group(1)):
                resolve(segs, m.start())
        for m in INLINE_RE.finditer(USE_RE.sub(lambda u: " " * len(u.group(0)), text)):
            segs = [m.group(1)] + [s.strip() for s in m.group(2).split("::") if s.strip()]
            resolve(segs, m.start())
        return refs


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one node (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(graph.get(v, ())):
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
                found.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def is_test(module: tuple[str, ...]) -> bool:
    """Whether a module is a test module by the crate's naming (`tests`, `x_tests`, `proptests`)."""
    return any(s == "tests" or s.endswith("_tests") or s == "proptests" for s in module)


def name(module: tuple[str, ...]) -> str:
    return "::".join(module) or "crate"


def main(argv: list[str]) -> int:
    crate = Crate(ROOT)
    top: dict[str, set[str]] = {}
    files: dict[str, set[str]] = {}
    why: dict[tuple[str, str], str] = {}
    for module, path in crate.files.items():
        src_top = module[0] if module else "lib"
        for ref in crate.references(path):
            dst_top = ref[0] if ref else "lib"
            if dst_top != src_top:
                top.setdefault(src_top, set()).add(dst_top)
                why.setdefault((src_top, dst_top), str(path.relative_to(ROOT.parent)))
            # Between files of one folder: a module and its ancestors/descendants are one unit.
            # Test modules (cfg(test)) are left out of this graph: they import what they test.
            related = ref[: len(module)] == module or module[: len(ref)] == ref
            tests = any(is_test(m) for m in (module, ref))
            if not related and not tests and ref[:1] == module[:1]:
                a, b = name(module), name(ref)
                files.setdefault(a, set()).add(b)
                why.setdefault((a, b), str(path.relative_to(ROOT.parent)))
    if "--graph" in argv:
        for src in sorted(top):
            print(f"{src} -> {', '.join(sorted(top[src]))}")
    rank = {m: i for i, layer in enumerate(LAYERS) for m in layer}
    errors: list[str] = []
    for src in sorted(set(top) | {m[0] for m in crate.files if m}):
        if src not in rank:
            errors.append(f"rust/{src}: not in a layer of .ci/rust-layers.py's LAYERS")
    for src, dsts in sorted(top.items()):
        for dst in sorted(dsts):
            if src in rank and dst in rank and rank[dst] <= rank[src]:
                where = why[(src, dst)]
                errors.append(f"{src} imports {dst} ({where}), but {dst} is not in a layer below")
    for graph in (top, files):
        for comp in cycles(graph):
            edges = [f"{a} -> {b} ({why[(a, b)]})" for a in comp for b in graph[a] if b in comp]
            errors.append("import cycle: " + "; ".join(sorted(edges)))
    for e in errors:
        print(e, file=sys.stderr)
    if not errors:
        print(f"rust-layers: {len(crate.files)} modules, {len(LAYERS)} layers, no cycle")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
