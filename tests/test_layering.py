"""One-way layers, checked from the source: the import graph of ``src/seawall`` (module-level imports,
read with ``ast``; imports inside functions and under ``TYPE_CHECKING`` are deliberate late bindings
and do not count) must have no cycle, and no package may import one in a higher layer.

The order is written down below as data. The few imports that still go the wrong way are listed in
``KNOWN_BACK_EDGES`` with why they exist: the list is the layering debt, and it may only shrink.
"""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "seawall"

#: Lowest first. A package may import its own layer's packages and any lower layer, never a higher one.
LAYERS: list[set[str]] = [
    {"seawall", "errors", "config", "store_location", "data", "storable", "threads", "wakeups", "password_hashing",
     "heap", "bulk_gc", "child_processes"},  # foundation
    {"models", "plugins"},                            # shared records; the registry (interfaces only)
    {"normalize", "media", "store", "queue"},         # text/URL normalisation, safe decoding, storage, work queue
    {"index"},                                        # match indexes
    {"signals"},                                      # signal types (each declares its index)
    # decide, announce, keys (minted and checked), hash lists, accounts
    {"rules", "webhooks", "apikeys", "apikey_tokens", "sharing", "accounts"},
    {"actions"},                                      # act
    # the upload pipeline and bank services
    {"verdicts", "banks", "uploads"},
    {"review"},                                       # cases, queues, decisions, appeals
    {"legal"},                                        # removal orders, preservation, statements of reasons, reports
    {"builtin", "composition", "engine", "health", "testing", "demo", "warmup"},  # composition root and what wires it
    {"api", "web", "cli", "cli_argv", "healthserver", "__main__"},  # shells
]

#: Imports against the order that exist today, (importer, imported) module by module, each with why.
KNOWN_BACK_EDGES: dict[tuple[str, str], str] = {
    # The transparency report draws with the console's SVG chart helpers; they belong in a lower rendering package.
    ("seawall.legal.report_render", "seawall.web.charts"): "report reuses the console's SVG charts",
}

#: Imports that may not exist at all, not even inside a function or under ``TYPE_CHECKING``:
#: (importing package, imported module or package, why). Prefixes match a package and everything in it.
NEVER: list[tuple[str, str, str]] = [
    ("seawall.index", "seawall.signals",
     "index/ holds the generic parts; an index that reads a signal's encoding lives in that signal's package"),
    ("seawall.review", "seawall.engine", "review services are given the parts they use, not the engine"),
    ("seawall.review", "seawall.composition", "review services are built by the composition root, not the reverse"),
    ("seawall.legal", "seawall.engine", "legal services are given the parts they use, not the engine"),
    ("seawall.legal", "seawall.composition", "legal services are built by the composition root, not the reverse"),
    ("seawall.engine", "seawall.composition", "the engine is given its parts; only the composition root builds them"),
    ("seawall.accounts", "seawall.signals.pdq",
     "account evidence is hashed and compared by the signal type that declares it (account_evidence)"),
    ("seawall.accounts", "seawall.signals.text_minhash",
     "account evidence is decoded by the signal type declaring it (account_evidence), found in the registry"),
]


def _modules() -> dict[str, Path]:
    mods: dict[str, Path] = {}
    for path in SRC.rglob("*.py"):
        parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        mods[".".join(parts)] = path
    return mods


def _imports(name: str, path: Path, known: set[str]) -> set[str]:
    """Modules of ``seawall`` that ``name`` imports when it is imported."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()

    def visit(body: list[ast.stmt]) -> None:
        for node in body:
            if isinstance(node, ast.If):
                if "TYPE_CHECKING" not in ast.unparse(node.test):
                    visit(node.body)
                visit(node.orelse)
            elif isinstance(node, ast.Try):
                for block in (node.body, node.orelse, node.finalbody, *(h.body for h in node.handlers)):
                    visit(block)
            elif isinstance(node, ast.Import | ast.ImportFrom):
                found.update(_imported(node, package))

    visit(ast.parse(path.read_text(encoding="utf-8")).body)
    return {m for m in found if m in known and m != name}


def _every_import(name: str, path: Path, known: set[str]) -> set[str]:
    """Modules of ``seawall`` that ``name`` names in any import statement, wherever it stands."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import | ast.ImportFrom):
            found.update(_imported(node, package))
    return {m for m in found if m in known and m != name}


def _imported(node: ast.Import | ast.ImportFrom, package: str) -> set[str]:
    """The dotted names one import statement in ``package`` may refer to (relative imports resolved)."""
    if isinstance(node, ast.Import):
        return {a.name for a in node.names}
    base = node.module or ""
    if node.level:
        parts = package.split(".")
        parts = parts[:len(parts) - (node.level - 1)]
        base = ".".join([*parts, *([node.module] if node.module else [])])
    return {base, *(f"{base}.{a.name}" for a in node.names)}


def _within(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


def _graph() -> dict[str, set[str]]:
    mods = _modules()
    return {name: _imports(name, path, set(mods)) for name, path in mods.items()}


def _package(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "seawall"


def _rank() -> dict[str, int]:
    return {pkg: i for i, layer in enumerate(LAYERS) for pkg in layer}


def test_every_package_has_a_layer() -> None:
    rank = _rank()
    missing = sorted({_package(m) for m in _modules()} - set(rank))
    assert not missing, f"place these in LAYERS (tests/test_layering.py): {missing}"
    assert sum(len(layer) for layer in LAYERS) == len(rank), "a package is listed in two layers"


def test_no_module_level_import_cycle() -> None:
    graph = _graph()
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def strong(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            strong(v)
    assert not cycles, f"module-level import cycles: {cycles}"


def test_no_import_goes_up_a_layer() -> None:
    rank = _rank()
    back = {(a, b) for a, targets in _graph().items() for b in targets
            if rank.get(_package(a), 0) < rank.get(_package(b), 0)}
    new = sorted(back - set(KNOWN_BACK_EDGES))
    assert not new, ("imports against the layer order (see LAYERS): "
                     + "; ".join(f"{a} -> {b}" for a, b in new))
    paid = sorted(set(KNOWN_BACK_EDGES) - back)
    assert not paid, f"these are fixed: remove them from KNOWN_BACK_EDGES: {paid}"


def test_no_forbidden_import_even_late() -> None:
    mods = _modules()
    known = set(mods)
    found = sorted(f"{name} -> {target} ({why})"
                   for name, path in mods.items()
                   for target in _every_import(name, path, known)
                   for importer, imported, why in NEVER
                   if _within(name, importer) and _within(target, imported))
    assert not found, "forbidden imports (see NEVER): " + "; ".join(found)


def test_the_checker_sees_a_back_edge() -> None:
    """The graph reader finds the kind of import it must: a relative, a from-import and a plain one."""
    graph = _graph()
    assert "seawall.signals.base" in graph["seawall.signals.pdq.signal"]
    assert "seawall.index.base" in graph["seawall.signals.base"]
    assert "seawall.engine" not in graph["seawall.health"]  # only under TYPE_CHECKING
    known = set(_modules())
    assert "seawall.engine" in _every_import("seawall.health", SRC / "health.py", known)  # the strict reader does
