"""The layering docs/architecture.md describes, where an import would break it unnoticed."""

import json
import subprocess
import sys

from support.processes import manage_py_env

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
