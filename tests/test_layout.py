"""The layout's rules, read from the source (docs/architecture.md, "The packages")."""
import ast
from pathlib import Path

METER = Path(__file__).resolve().parent.parent / "meter"
DOMAIN = ("ingest", "decision", "allocation", "registry", "reports", "alerts", "ledger", "store")
ENTRY_POINTS = {"__init__.py", "__main__.py", "app.py", "cli.py"}


def modules() -> dict[str, Path]:
    out = {}
    for path in METER.rglob("*.py"):
        parts = path.relative_to(METER.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = path
    return out


def imports(path: Path) -> set[str]:
    """Every module this one imports, at the top or inside a function (TYPE_CHECKING included)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found |= {f"{node.module}.{a.name}" for a in node.names}
    return found


def test_only_entry_points_sit_at_the_top_of_the_package():
    assert {p.name for p in METER.glob("*.py")} <= ENTRY_POINTS


def test_the_domain_imports_nothing_from_the_edge():
    wrong = {name: sorted(i for i in imports(path) if i.startswith(("meter.http", "meter.contract")))
             for name, path in modules().items() if name.split(".")[1:2] and name.split(".")[1] in DOMAIN}
    assert {k: v for k, v in wrong.items() if v} == {}


def test_only_the_ledger_imports_redis():
    wrong = {name for name, path in modules().items()
             if not name.startswith("meter.ledger") and any(i == "redis" or i.startswith("redis.")
                                                            for i in imports(path))}
    assert wrong == set()


def test_there_is_no_import_cycle():
    mods = modules()
    graph = {name: {i for i in imports(path) if i in mods and i != name} for name, path in mods.items()}
    for name in graph:  # a package's __init__ is not an edge to its own modules
        graph[name] = {d for d in graph[name] if not (name.startswith(d + ".") and mods[d].name == "__init__.py")}
    seen: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        seen[node] = 1
        stack.append(node)
        for dep in graph[node]:
            if seen.get(dep) == 1:
                raise AssertionError("import cycle: " + " -> ".join(stack[stack.index(dep):] + [dep]))
            if dep not in seen:
                visit(dep)
        stack.pop()
        seen[node] = 2

    for name in sorted(graph):
        if name not in seen:
            visit(name)
