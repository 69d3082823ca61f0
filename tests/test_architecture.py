"""The apps' boundaries, kept by a test (issue 22): it reads every product module's imports with
`ast` (module-level and inside functions, relative ones resolved; no module is imported) and fails on

- an import that points up (or sideways) in the layering below,
- an import cycle between modules,
- a product module over 500 lines (migrations are generated and not counted).

The layers, bottom to top; a module may import its own app and any app in a lower layer:

    0 core        helpers that know no app: database plumbing (core/db.py), beat entries for data
                  migrations, charts, pagination, CSV and upload safety, input checks
    1 accounts    the account-wide models (account and timezone, API keys, idempotency, rate limits,
                  heartbeats, the outbox), roles and access, dates in the account timezone, the API's plumbing
    2 webhooks    outbound events and their delivery: what the apps above tell the outside world
    3 segments    the audience: profiles, events, custom lists, segment rules
    4 codes       the code pool: the claim bulk coupons and voucher lists share
    5 wallets, coupons, vouchers   the catalogue: independent of each other (no sideways import)
    6 promotions  campaigns and the engine that rewards from the catalogue
    7 config      the composition root: settings, URLs, Celery, WSGI, health, the demo command

config may import every app and nothing imports it (lower code reaches Celery through
`celery.current_app`, settings through `django.conf.settings`). Within it the URL confs
(`config.urls`, `config.api_urls`) name every app's views and API, and nothing but another URL
conf imports them.
Something a lower app must make happen above it travels as a task name or an outbox row; a question a
lower app must ask above it is a Django signal the upper app answers (segments' `custom_list_users`,
vouchers' `voucher_list_campaigns`, answered in promotions/receivers.py); the access rules
(accounts/access.py) name the partner model by app label.

Issue 22's refactor emptied the lists of known violations below. They are kept as a RATCHET
for a violation that has to be accepted for a while: each entry is exact, and the test fails both
ways: on a violation that is not listed, and on a listed entry that no longer occurs (remove it from
the list), so the lists only shrink. A module over the limit is listed with its line count as a
ceiling: growing past it fails, and shrinking below it fails until the ceiling is lowered.
"""

import ast
import functools
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

LAYERS = {
    "core": 0,
    "accounts": 1,
    "webhooks": 2,
    "segments": 3,
    "codes": 4,
    "wallets": 5,
    "coupons": 5,
    "vouchers": 5,
    "promotions": 6,
    "config": 7,
}
WIRING = frozenset({"config.urls", "config.api_urls"})
MAX_LINES = 500

# --- The ratchet: today's known violations. Only ever remove entries (or lower a ceiling). -------

# Upward or sideways imports, importer → imported module.
KNOWN_UPWARD: set[tuple[str, str]] = set()

# Import cycles, each the exact set of modules of one strongly connected component.
KNOWN_CYCLES: list[frozenset[str]] = []

# Product modules over MAX_LINES: module → its line count today, a ceiling.
KNOWN_LONG_MODULES: dict[str, int] = {}


# --- Reading the code ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Import:
    importer: str
    imported: str
    path: str  # relative to the repository root
    line: int
    in_function: bool

    @property
    def where(self) -> str:
        return f"{self.path}:{self.line}{' (inside a function)' if self.in_function else ''}"


def product_modules(root: Path = ROOT, apps=tuple(LAYERS)) -> dict[str, Path]:
    """Dotted module name → file, for every .py file of the apps (packages by their __init__)."""
    modules = {}
    for app in apps:
        for path in sorted((root / app).rglob("*.py")):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            modules[".".join(parts)] = path
    return modules


def _resolve(name: str, modules) -> str | None:
    """The product module `name` refers to: `a.b.C` is module `a.b` when `a.b.C` is not one."""
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def imports_of(module: str, path: Path, modules, root: Path = ROOT) -> list[Import]:
    """Every import of another product module in the file, at any depth."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    rel = str(path.relative_to(root))
    found = []

    def add(target: str | None, node, in_function: bool):
        if target and target != module:
            found.append(Import(module, target, rel, node.lineno, in_function))

    def visit(node, in_function: bool):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.Import):
                for alias in child.names:
                    add(_resolve(alias.name, modules), child, in_function)
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    anchor = package.split(".")
                    anchor = anchor[: len(anchor) - (child.level - 1)]
                    base = ".".join([*anchor, base] if base else anchor)
                for alias in child.names:
                    # `from a import b` names module a.b when there is one, else something in a.
                    target = base if alias.name == "*" else f"{base}.{alias.name}"
                    add(_resolve(target, modules), child, in_function)
            visit(child, in_function or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda))

    visit(tree, False)
    return found


@functools.cache  # read once per run (the tests share it)
def all_imports(root: Path = ROOT, apps=tuple(LAYERS)) -> tuple[Import, ...]:
    modules = product_modules(root, apps)
    return tuple(found for module, path in modules.items() for found in imports_of(module, path, modules, root))


# --- The three rules ----------------------------------------------------------------------------


def _app(module: str) -> str:
    return module.split(".", 1)[0]


def layering_violations(imports, layers=LAYERS, wiring=WIRING) -> dict[tuple[str, str], list[Import]]:
    """(importer, imported) → where, for each import that goes up or sideways between apps."""
    bad: dict[tuple[str, str], list[Import]] = {}
    for found in imports:
        if found.importer in wiring:
            continue
        here, there = _app(found.importer), _app(found.imported)
        if found.imported in wiring or (here != there and layers[there] >= layers[here]):
            bad.setdefault((found.importer, found.imported), []).append(found)
    return bad


def import_cycles(imports) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan, iterative), sorted."""
    graph: dict[str, set[str]] = {}
    for found in imports:
        graph.setdefault(found.importer, set()).add(found.imported)
        graph.setdefault(found.imported, set())
    index, low, on_stack, stack, components = {}, {}, set(), [], []
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    components.append(sorted(component))
    return sorted(components)


def cycle_path(component, imports) -> list[Import]:
    """One concrete circle through the component's first module, import by import."""
    members = set(component)
    edges: dict[str, dict[str, Import]] = {}
    for found in imports:
        if found.importer in members and found.imported in members:
            edges.setdefault(found.importer, {}).setdefault(found.imported, found)
    start = component[0]
    paths = {start: []}
    frontier = [start]
    while frontier:  # breadth first: the shortest way back to the start
        following = []
        for node in frontier:
            for target, found in sorted(edges.get(node, {}).items()):
                if target == start:
                    return [*paths[node], found]
                if target not in paths:
                    paths[target] = [*paths[node], found]
                    following.append(target)
        frontier = following
    return []


def long_modules(root: Path = ROOT, apps=tuple(LAYERS), limit=MAX_LINES) -> dict[str, int]:
    """Module → line count, for the product modules over the limit (migrations left out)."""
    return {
        module: lines
        for module, path in product_modules(root, apps).items()
        if "migrations" not in path.parts and (lines := len(path.read_text().splitlines())) > limit
    }


# --- The ratchet -------------------------------------------------------------------------------


def upward_problems(violations, known) -> list[str]:
    problems = []
    for (importer, imported), where in sorted(violations.items()):
        if (importer, imported) not in known:
            lines = ", ".join(dict.fromkeys(found.where for found in where))
            problems.append(
                f"{lines}: {importer} imports {imported}, which is above (or beside) {_app(importer)} "
                f"in the layering; reach it through a task name or the outbox, or move the code down."
            )
    for importer, imported in sorted(set(known) - set(violations)):
        problems.append(
            f"{importer} no longer imports {imported}: remove ({importer!r}, {imported!r}) from KNOWN_UPWARD."
        )
    return problems


def cycle_problems(imports, known) -> list[str]:
    cycles = [frozenset(component) for component in import_cycles(imports)]
    problems = []
    for component in cycles:
        if component not in known:
            circle = " → ".join(f"{found.importer} ({found.where})" for found in cycle_path(sorted(component), imports))
            problems.append(f"Import cycle: {circle} → back to the start. Break it: one must not know the other.")
    for component in known:
        if component not in cycles:
            problems.append(f"The cycle {sorted(component)} is gone or changed: update it in KNOWN_CYCLES.")
    return problems


def _file(module: str) -> str:
    return module.replace(".", "/") + ".py"


def size_problems(found: dict[str, int], known: dict[str, int], limit=MAX_LINES) -> list[str]:
    problems = []
    for module, lines in sorted(found.items()):
        ceiling, file = known.get(module), _file(module)
        if ceiling is None:
            problems.append(f"{file} has {lines} lines, over the {limit}-line limit: split it by concern.")
        elif lines > ceiling:
            problems.append(f"{file} grew to {lines} lines, past its ceiling of {ceiling} in KNOWN_LONG_MODULES.")
        elif lines < ceiling:
            problems.append(f"{file} is down to {lines} lines: lower its ceiling in KNOWN_LONG_MODULES to {lines}.")
    for module, ceiling in sorted(known.items()):
        if module not in found:
            file = _file(module)
            problems.append(f"{file} is within {limit} lines now: remove it from KNOWN_LONG_MODULES (was {ceiling}).")
    return problems


def _fail(problems: list[str]) -> None:
    if problems:
        raise AssertionError("\n".join(["", *problems, "", "(tests/test_architecture.py explains the layers)"]))


# --- The tests ----------------------------------------------------------------------------------


def test_no_import_points_up_or_sideways_between_the_apps():
    _fail(upward_problems(layering_violations(all_imports()), KNOWN_UPWARD))


def test_no_import_cycle_between_modules():
    _fail(cycle_problems(all_imports(), KNOWN_CYCLES))


def test_no_product_module_is_over_500_lines():
    _fail(size_problems(long_modules(), KNOWN_LONG_MODULES))


# --- The checker itself, on a small made-up project ---------------------------------------------


def _write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def test_the_checker_sees_function_level_relative_and_from_imports_and_the_cycles_they_make(tmp_path):
    layers = {"low": 0, "mid": 1, "top": 2}
    _write(
        tmp_path,
        {
            "low/__init__.py": "",
            "low/models.py": "import os\n\n\ndef f():\n    from top.models import Thing\n",
            "low/urls.py": "from top import views\n",
            "mid/__init__.py": "",
            "mid/services.py": "from . import tasks\nfrom low.models import Base\n",
            "mid/tasks.py": "from mid.services import go\n" + "x = 1\n" * 600,
            "top/__init__.py": "",
            "top/models.py": "from low import models\nfrom low.urls import urlpatterns\n",
            "top/views.py": "VIEWS = []\n",
        },
    )
    imports = all_imports(tmp_path, tuple(layers))
    bad = layering_violations(imports, layers, wiring=frozenset({"low.urls"}))
    assert set(bad) == {("low.models", "top.models"), ("top.models", "low.urls")}
    [upward] = bad[("low.models", "top.models")]
    assert (upward.path, upward.line, upward.in_function) == ("low/models.py", 5, True)
    assert import_cycles(imports) == [
        ["low.models", "top.models"],  # through the function-level import
        ["mid.services", "mid.tasks"],  # `from . import tasks` resolved
    ]
    circle = cycle_path(["mid.services", "mid.tasks"], imports)
    assert [(found.importer, found.imported) for found in circle] == [
        ("mid.services", "mid.tasks"),
        ("mid.tasks", "mid.services"),
    ]
    assert long_modules(tmp_path, tuple(layers)) == {"mid.tasks": 601}


def test_the_ratchet_fails_on_a_new_violation_and_on_a_listed_one_that_is_gone():
    here = Import("segments.services", "promotions.models", "segments/services.py", 544, True)
    violations = {("segments.services", "promotions.models"): [here, here]}
    assert upward_problems(violations, {("segments.services", "promotions.models")}) == []
    [new] = upward_problems(violations, set())
    assert new.startswith("segments/services.py:544 (inside a function): segments.services imports promotions.models,")
    [gone] = upward_problems({}, {("accounts.demo", "vouchers.models")})
    assert "accounts.demo no longer imports vouchers.models: remove ('accounts.demo', 'vouchers.models')" in gone

    imports = [Import("a.x", "a.y", "a/x.py", 1, False), Import("a.y", "a.x", "a/y.py", 3, True)]
    assert cycle_problems(imports, [frozenset({"a.x", "a.y"})]) == []
    [new] = cycle_problems(imports, [])
    assert new.startswith("Import cycle: a.x (a/x.py:1) → a.y (a/y.py:3 (inside a function)) → back to the start.")
    assert cycle_problems([], [frozenset({"a.x", "a.y"})]) == [
        "The cycle ['a.x', 'a.y'] is gone or changed: update it in KNOWN_CYCLES."
    ]

    assert size_problems({"a.big": 600}, {"a.big": 600}) == []
    assert size_problems({"a.big": 601}, {"a.big": 600}) == [
        "a/big.py grew to 601 lines, past its ceiling of 600 in KNOWN_LONG_MODULES."
    ]
    assert size_problems({"a.big": 550}, {"a.big": 600}) == [
        "a/big.py is down to 550 lines: lower its ceiling in KNOWN_LONG_MODULES to 550."
    ]
    assert size_problems({}, {"a.big": 600}) == [
        "a/big.py is within 500 lines now: remove it from KNOWN_LONG_MODULES (was 600)."
    ]
    [new] = size_problems({"a.new": 501}, {})
    assert new == "a/new.py has 501 lines, over the 500-line limit: split it by concern."
