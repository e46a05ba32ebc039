"""`manage.py demo --dashboard`: after its jobs, the admin's Gearman pages are served until Ctrl-C."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import urllib.request

from support.processes import MANAGE_PY, manage_py_env
from support.waiting import wait_for

from django_gearman.testing import free_port


def test_the_demo_serves_the_dashboard_until_interrupted(gearman_settings, tmp_path):
    address = f"127.0.0.1:{free_port()}"
    env = manage_py_env([gearman_settings], {"TESTPROJECT_DB": str(tmp_path / "demo.sqlite3")})
    log = tmp_path / "demo.log"
    with open(log, "wb") as output:
        # A session of its own, so that a failing test can stop the demo with its runserver and worker.
        demo = subprocess.Popen([sys.executable, str(MANAGE_PY), "demo", "--dashboard", address], env=env,
                                stdin=subprocess.DEVNULL, stdout=output, stderr=subprocess.STDOUT,
                                start_new_session=True)
    try:
        wait_for(lambda: "serving the admin until Ctrl-C" in log.read_text() or demo.poll() is not None,
                 timeout=60, message="the demo to serve the admin")
        assert f"dashboard: http://{address}/admin/django_gearman/ (user 'admin', password 'admin')" in log.read_text()

        def login_page():
            try:
                with urllib.request.urlopen(f"http://{address}/admin/django_gearman/server/", timeout=5) as page:
                    return page.url
            except OSError:
                return None

        assert wait_for(login_page, timeout=30, message="runserver") == (
            f"http://{address}/admin/login/?next=/admin/django_gearman/server/")
        demo.send_signal(signal.SIGINT)
        assert demo.wait(60) == 0, log.read_text()
    finally:
        if demo.poll() is None:
            os.killpg(demo.pid, signal.SIGKILL)
            demo.wait()
    assert "worker exited with status 0 after SIGTERM" in log.read_text()
