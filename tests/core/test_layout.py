"""The layering docs/architecture.md describes, where an import would break it unnoticed."""

import ast
import graphlib
import json
import subprocess
import sys
from pathlib import Path

import pytest
from support.processes import manage_py_env

import django_gearman

#: Submit and enqueue in eager mode, which runs tasks here, then list the package's modules imported.
SUBMITTING_SIDE = """
import json
import sys
import django
django.setup()
from django.conf import settings
settings.GEARMAN_ALWAYS_EAGER = True
from django_gearman import GearmanClient
from shop.tasks import fail
assert GearmanClient().submit_job("shop.worker.add", args=[2, 3]) == 5
assert fail.enqueue("eagerly").status == "FAILED"
print(json.dumps(sorted(name for name in sys.modules if name.startswith("django_gearman."))))
"""


def test_running_tasks_eagerly_does_not_import_the_worker_runtime():
    finished = subprocess.run([sys.executable, "-c", SUBMITTING_SIDE], capture_output=True, text=True, timeout=60,
                              env=manage_py_env(["127.0.0.1:1"], {"DJANGO_SETTINGS_MODULE": "testproject.settings"}))
    assert finished.returncode == 0, finished.stderr
    imported = json.loads(finished.stdout)
    assert {"django_gearman.client", "django_gearman.execution", "django_gearman.backends"} <= set(imported)
    assert {"django_gearman.worker", "django_gearman.backend_worker"} & set(imported) == set()
    assert "django_gearman.results" not in imported  # the result store is off: nothing of it runs


def import_graph() -> dict[str, set[str]]:
    """Each module of django_gearman and the package's modules it imports, wherever the import is
    (function-level and TYPE_CHECKING imports count: they are dependencies all the same)."""
    root = Path(django_gearman.__file__).parent
    modules = {}
    for path in root.rglob("*.py"):
        parts = path.relative_to(root.parent).with_suffix("").parts
        modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        graph[name] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = package.split(".")[: len(package.split(".")) - node.level + 1] if node.level else []
                module = ".".join(base + ([node.module] if node.module else []))
                targets = [f"{module}.{alias.name}" for alias in node.names] + [module]
            else:
                continue
            for target in targets:
                while target and target not in modules:
                    target = target.rpartition(".")[0]
                # A module importing its own package's __init__ (or itself) is not a dependency between two modules.
                if target and target != name and not name.startswith(target + "."):
                    graph[name].add(target)
    return graph


def test_the_import_graph_has_no_cycle():
    graph = import_graph()
    assert len(graph) > 40 and "django_gearman.protocol.client" in graph["django_gearman.client"] | {
        dependency for module in graph["django_gearman.client"] for dependency in graph[module]}
    try:
        graphlib.TopologicalSorter(graph).prepare()
    except graphlib.CycleError as cycle:
        pytest.fail(f"import cycle: {' -> '.join(cycle.args[1])}")


def test_the_protocol_core_imports_nothing_from_the_django_layer():
    graph = import_graph()
    for module, dependencies in graph.items():
        if module.startswith("django_gearman.protocol"):
            assert {dependency for dependency in dependencies if not dependency.startswith("django_gearman.protocol")} \
                == set(), module
