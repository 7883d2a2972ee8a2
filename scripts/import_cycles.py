"""List the import cycles between drlkit's modules (issue 32: there should be none).

    python scripts/import_cycles.py            # module-level imports and those inside functions

Each `import drlkit.x` / `from drlkit.x import ...` is an edge; imports under `if TYPE_CHECKING:`
are left out (they never run). Exit status 1 if any cycle is found.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

PKG = Path(__file__).resolve().parents[1] / "drlkit"


def module_name(path: Path) -> str:
    rel = path.relative_to(PKG.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def edges(path: Path, known: set[str]) -> set[str]:
    tree = ast.parse(path.read_text())
    skip: set[int] = set()
    for node in ast.walk(tree):  # `if TYPE_CHECKING:` blocks
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skip.update(id(n) for b in node.body for n in ast.walk(b))
    out = set()
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        names = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        for n in names:
            while n and n not in known:
                n = n.rpartition(".")[0]
            if n and n != "drlkit":
                out.add(n)
    return out


def main() -> int:
    files = {module_name(p): p for p in PKG.rglob("*.py")}
    graph = {m: edges(p, set(files)) - {m} for m, p in files.items()}
    cycles, seen = [], set()

    def visit(m: str, stack: list[str]) -> None:
        for n in sorted(graph[m]):
            if n in stack:
                cyc = stack[stack.index(n):]
                key = frozenset(cyc)
                if key not in seen:
                    seen.add(key)
                    cycles.append(cyc + [n])
            elif len(stack) < 12:
                visit(n, stack + [n])

    for m in sorted(graph):
        visit(m, [m])
    for c in cycles:
        print(" -> ".join(c))
    print(f"{len(graph)} modules, {sum(map(len, graph.values()))} imports, {len(cycles)} cycles")
    return 1 if cycles else 0


if __name__ == "__main__":
    sys.exit(main())
