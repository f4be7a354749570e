"""Structural checks on the package: no import cycles among its modules, and no oversized module.

The import graph is read from the source with `ast` (nothing is imported), so a cycle hidden
behind a function-level import counts as much as one at the top of a file.
"""

import ast
from pathlib import Path

PACKAGE = "videomae"
ROOT = Path(__file__).resolve().parent.parent
MAX_MODULE_LINES = 330
# Modules over the limit whose split is still to come; the list may only shrink.
NOT_YET_SPLIT: set[str] = set()


def module_name(path: Path, root: Path = ROOT) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def package_modules(root: Path = ROOT) -> dict[str, Path]:
    return {module_name(p, root): p for p in sorted((root / PACKAGE).rglob("*.py"))}


def imported_names(path: Path, name: str) -> set[str]:
    """Every module `path` imports, absolute names, including `from pkg import submodule`."""
    tree = ast.parse(path.read_text(), filename=str(path))
    is_package = path.name == "__init__.py"
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".")
                base = base[: len(base) - node.level + (1 if is_package else 0)]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return found


def import_graph(modules: dict[str, Path]) -> dict[str, set[str]]:
    """module -> the package modules it imports. Importing `a.b.c` also runs `a` and `a.b`."""
    graph = {}
    for name, path in modules.items():
        targets = set()
        for imported in imported_names(path, name):
            parts = imported.split(".")
            for i in range(1, len(parts) + 1):
                prefix = ".".join(parts[:i])
                if prefix in modules and prefix != name and not name.startswith(prefix + "."):
                    targets.add(prefix)
        graph[name] = targets
    return graph


def part_graph(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    """The graph between the package's parts: its top-level modules and subpackages."""

    def part(name: str) -> str:
        return ".".join(name.split(".")[:2])

    parts: dict[str, set[str]] = {}
    for name, targets in graph.items():
        parts.setdefault(part(name), set()).update(part(t) for t in targets if part(t) != part(name))
    return parts


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return cycles


def test_no_import_cycles():
    # A package's __init__ re-exporting its children is not a cycle the children take part in:
    # importing a child runs the parent first, whatever the child imports.
    graph = import_graph(package_modules())
    cycles = find_cycles(graph)
    assert not cycles, "import cycles among the package's modules:\n" + "\n".join(
        " <-> ".join(c) for c in cycles
    )


def test_no_import_cycles_between_parts():
    # e.g. training -> visualize -> training: each part must be readable on top of the ones below it.
    cycles = find_cycles(part_graph(import_graph(package_modules())))
    assert not cycles, "import cycles among the package's parts:\n" + "\n".join(
        " <-> ".join(c) for c in cycles
    )


def test_cycle_check_sees_a_cycle(tmp_path):
    pkg = tmp_path / PACKAGE
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from videomae.sub import b\n")
    (pkg / "sub" / "b.py").write_text("def f():\n    from videomae import a\n")
    graph = import_graph(package_modules(tmp_path))
    assert find_cycles(graph) == [["videomae.a", "videomae.sub.b"]]
    assert find_cycles(part_graph(graph)) == [["videomae.a", "videomae.sub"]]


def in_package(module: str | None) -> bool:
    return module is not None and (module == PACKAGE or module.startswith(PACKAGE + "."))


def lazy_package_imports(path: Path) -> list[str]:
    """`import videomae...` statements inside functions: cycles dodged rather than removed.
    (Optional or heavy third-party libraries may be imported lazily; the package may not.)"""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        for inner in ast.walk(node):
            if isinstance(inner, ast.ImportFrom) and (inner.level or in_package(inner.module)):
                found.append(f"{path.name}:{inner.lineno} from {inner.module}")
            elif isinstance(inner, ast.Import):
                found += [f"{path.name}:{inner.lineno} {a.name}" for a in inner.names if in_package(a.name)]
    return found


def test_no_function_level_imports_of_the_package():
    found = {name: lazy_package_imports(path) for name, path in package_modules().items()}
    found = {name: lines for name, lines in found.items() if lines}
    assert not found, f"function-level imports of the package: {found}"


def test_modules_are_small():
    sizes = {name: len(path.read_text().splitlines()) for name, path in package_modules().items()}
    over = {name: n for name, n in sizes.items() if n > MAX_MODULE_LINES}
    assert not over.keys() - NOT_YET_SPLIT, f"modules over {MAX_MODULE_LINES} lines: {over}"
    assert not NOT_YET_SPLIT - over.keys(), f"no longer over the limit: {NOT_YET_SPLIT - over.keys()}"


# The layers of docs/architecture.md, as folders: each may import only the folders its row allows
# (besides itself). utils imports nothing of the package; models and data know nothing of each
# other, of checkpoints or of training; only training (and the experiments and benchmarks above it)
# builds runs. A new module goes into one of these folders: the top level holds no module.
LAYERS = {
    "utils": set(),
    "models": {"utils"},
    "data": {"utils"},
    "checkpoints": {"utils", "models"},
    "perf": {"utils", "models"},
    "config": {"utils", "models", "data"},
    "report": {"utils"},
    "eval": {"utils", "models", "data", "checkpoints"},
    "viz": {"utils", "models", "data", "checkpoints"},
    "training": {"utils", "models", "data", "checkpoints", "perf", "config", "eval", "viz", "report"},
}
ABOVE_ALL = {"experiments", "benchmarks"}  # the comparisons and benchmarks over whole runs
LIGHTNING = ("pytorch_lightning", "lightning_fabric", "lightning")


def folder(part: str) -> str:
    return part.removeprefix(PACKAGE + ".")


def test_the_top_level_holds_only_role_folders():
    top = {p.name for p in (ROOT / PACKAGE).iterdir() if p.name != "__pycache__"}
    modules = {name for name in top if name.endswith(".py")} - {"__init__.py"}
    assert not modules, f"modules at the package's top level (put each in a role folder): {sorted(modules)}"
    assert top - {"__init__.py"} == LAYERS.keys() | ABOVE_ALL, "a folder missing from LAYERS"


def test_layers_import_only_downwards():
    parts = part_graph(import_graph(package_modules()))
    wrong = {
        folder(part): sorted(folder(t) for t in targets if folder(t) not in LAYERS[folder(part)])
        for part, targets in parts.items()
        if part != PACKAGE and folder(part) in LAYERS
    }
    wrong = {name: targets for name, targets in wrong.items() if targets}
    assert not wrong, f"imports against the layers of docs/architecture.md: {wrong}"


def test_the_two_runs_share_the_run_layer_and_not_each_other():
    graph = import_graph(package_modules())
    pretrain, finetune = "videomae.training.pretrain", "videomae.training.finetune"
    assert pretrain not in graph[finetune] and finetune not in graph[pretrain]
    assert "videomae.training.run_steps" in graph[pretrain] & graph[finetune]


def test_lightning_stays_in_training():
    """The model is a plain nn.Module and the data is plain PyTorch; only the LightningDataModule
    (the data's one Lightning face) and training/ import Lightning."""
    users = {
        name
        for name, path in package_modules().items()
        if any(imported.split(".")[0] in LIGHTNING for imported in imported_names(path, name))
    }
    assert {u for u in users if not u.startswith("videomae.training.")} == {"videomae.data.datamodule"}
