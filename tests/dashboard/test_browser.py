"""The Gearman admin in a real browser: headless Chromium on testproject's `manage.py runserver`,
with a real gearmand and real `manage.py gearman_worker` processes. Every page is saved as a
screenshot (support.browser.SCREENSHOT_DIR)."""

from __future__ import annotations

import json

from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.wait import WebDriverWait
from support.browser import CUSTOMER, STAFF, manage_py, screenshot
from support.gearmand import wait_status
from support.workers import release

from django_gearman import GearmanClient
from django_gearman.inspection import DEFAULT_TIMEOUT, inspect_servers, json_document

#: Seconds a page may take to show what the test waits for (it refreshes every 2 s).
PAGE_TIMEOUT = 20
HOLD = "shop.worker.wait_for_file"
UNSERVED = "nobody.serves.this"


def wait(browser, condition, message: str):
    return WebDriverWait(browser, PAGE_TIMEOUT).until(condition, message)


def log_in(browser, site, user, next_path: str = "/admin/") -> None:
    browser.get(site.url(f"/admin/login/?next={next_path}"))
    browser.find_element(By.NAME, "username").send_keys(user[0])
    browser.find_element(By.NAME, "password").send_keys(user[1])
    browser.find_element(By.CSS_SELECTOR, "#login-form [type=submit]").click()
    wait(browser, expected_conditions.url_to_be(site.url(next_path)), f"{user[0]} to reach {next_path}")


#: The page redraws itself every few seconds, so it is read in one script run, never element by element.
READ_FUNCTIONS = """
return Array.from(document.querySelectorAll(`.gearman-server[data-server="${arguments[0]}"] tr[data-function]`),
    row => [row.dataset.function, ...["workers", "running", "queued"].map(
        column => Number(row.querySelector(`td.${column}`).textContent))]);
"""


def function_rows(browser, server: str) -> list[tuple[str, int, int, int]]:
    """The Functions table of one server's box: (function, workers, running, queued) per row."""
    return [tuple(row) for row in browser.execute_script(READ_FUNCTIONS, server)]


def function_counts(browser, server: str, function: str) -> tuple[int, int, int] | None:
    return next((tuple(row[1:]) for row in function_rows(browser, server) if row[0] == function), None)


def texts(browser, css: str) -> list[str]:
    """The text of every element `css` selects, as shown (innerText), read at one moment."""
    return browser.execute_script(
        "return Array.from(document.querySelectorAll(arguments[0]), node => node.innerText)", css)


def text(browser, css: str) -> str:
    [found] = texts(browser, css)
    return found


def test_staff_see_the_servers_page_with_gearmand_s_numbers(browser, site, start_worker, tmp_path):
    worker = start_worker("-a", "shop", "-n", "worker", servers=[site.gearmand], env=site.extra_env)
    flag = tmp_path / "release"
    client = GearmanClient()
    client.submit_job(HOLD, args=[str(flag)], background=True)
    for _ in range(3):
        client.submit_job(UNSERVED, data=b"", background=True)
    wait_status(site.gearmand, HOLD, running=1)
    log_in(browser, site, STAFF)

    browser.find_element(By.LINK_TEXT, "Servers").click()  # from the admin index, under Gearman
    wait(browser, lambda _: "Refreshed at" in text(browser, ".gearman-refreshed"), "the Servers page")

    [expected] = json_document(inspect_servers([site.gearmand.address], DEFAULT_TIMEOUT))["servers"]
    address = site.gearmand.address
    assert text(browser, f'[data-server="{address}"] .gearman-state') == "up"
    assert text(browser, f'[data-server="{address}"] .version') == expected["version"]
    assert function_rows(browser, address) == [
        (task["name"], task["total_workers"], task["running_jobs"], task["queued_jobs"]) for task in expected["tasks"]
    ]
    assert function_counts(browser, address, HOLD) == (1, 1, 0)
    assert function_counts(browser, address, UNSERVED) == (0, 0, 3)
    [client_id] = texts(browser, f'[data-server="{address}"] td.client-id')
    assert client_id.endswith(f":{worker.pid}:shop.worker")
    assert text(browser, f'[data-server="{address}"] td.functions').split("\n") == expected["workers"][0][
        "registered_tasks"]
    screenshot(browser, "servers")
    release(flag)


def test_a_queued_count_changes_without_reloading_when_a_worker_starts(browser, site, start_worker):
    address = site.gearmand.address
    client = GearmanClient()
    for number in range(3):
        client.submit_job("shop.worker.add", args=[number, number], background=True)
    wait_status(site.gearmand, "shop.worker.add", queued=3)
    log_in(browser, site, STAFF, "/admin/django_gearman/server/?q=shop.worker.add")
    wait(browser, lambda _: function_counts(browser, address, "shop.worker.add") == (0, 0, 3), "3 queued, no worker")
    browser.execute_script("document.body.dataset.sameDocument = 'yes'")

    start_worker("-a", "shop", "-n", "worker", servers=[site.gearmand], env=site.extra_env)

    wait(browser, lambda _: function_counts(browser, address, "shop.worker.add") == (1, 0, 0), "the jobs to be done")
    assert browser.execute_script("return document.body.dataset.sameDocument") == "yes"  # not reloaded
    # The filter applies to what is polled: only the add function, and the worker with only it.
    assert [row[0] for row in function_rows(browser, address)] == ["shop.worker.add"]
    assert texts(browser, "td.functions") == ["shop.worker.add"]


def test_a_server_that_does_not_answer_is_named_on_the_page(browser, site, project_database, refused_address,
                                                            tmp_path):
    from support.browser import Site, WebServer, project_env

    database = project_database.copy(tmp_path / "two.sqlite3")
    env = project_env([site.gearmand, refused_address], database)
    server = WebServer(env, tmp_path / "two-servers.log").start()
    try:
        both = Site(server, site.gearmand, {"TESTPROJECT_DB": str(database)})
        log_in(browser, both, STAFF, "/admin/django_gearman/server/")
        [unanswered] = wait(browser, lambda _: texts(browser, ".gearman-unanswered li"), "the unanswered server")
        assert unanswered.startswith(f"{refused_address} did not answer: cannot connect")
        assert text(browser, f'[data-server="{refused_address}"] .gearman-state') == "down"
        assert text(browser, f'[data-server="{site.gearmand.address}"] .gearman-state') == "up"
        screenshot(browser, "servers-one-down")
    finally:
        server.stop()


def test_function_names_show_as_text(browser, site):
    name = '<img src=x onerror="document.body.dataset.owned=1">'
    GearmanClient().submit_job(name, data=b"", background=True)
    wait_status(site.gearmand, name, queued=1)
    log_in(browser, site, STAFF, "/admin/django_gearman/server/")

    assert wait(browser, lambda _: texts(browser, "tr[data-function] td.name"), "the function row") == [name]
    assert browser.find_elements(By.CSS_SELECTOR, ".gearman-server img") == []
    assert browser.execute_script("return document.body.dataset.owned") is None


def test_a_non_staff_user_is_sent_to_the_login_page(browser, site):
    browser.get(site.url("/admin/django_gearman/server/"))
    assert browser.current_url == site.url("/admin/login/?next=/admin/django_gearman/server/")

    browser.find_element(By.NAME, "username").send_keys(CUSTOMER[0])
    browser.find_element(By.NAME, "password").send_keys(CUSTOMER[1])
    browser.find_element(By.CSS_SELECTOR, "#login-form [type=submit]").click()

    error = wait(browser, expected_conditions.presence_of_element_located((By.CSS_SELECTOR, ".errornote")),
                 "the login page's error")
    assert "staff account" in error.text
    assert browser.current_url.startswith(site.url("/admin/login/"))
    screenshot(browser, "login-refused")


def test_a_job_looked_up_by_handle_shows_its_live_status(browser, site, start_worker, tmp_path):
    flag = tmp_path / "release"
    handle = GearmanClient().submit_job("shop.worker.report_and_wait", args=[3, 10, str(flag)], background=True)
    log_in(browser, site, STAFF, "/admin/django_gearman/joblookup/")
    browser.find_element(By.ID, "job-key").send_keys(str(handle))
    browser.find_element(By.CSS_SELECTOR, "#changelist-search [type=submit]").click()
    live = (By.CSS_SELECTOR, ".gearman-live")
    wait(browser, expected_conditions.text_to_be_present_in_element(live, "Queued"), "the job queued")
    browser.execute_script("document.body.dataset.sameDocument = 'yes'")

    start_worker("-a", "shop", "-n", "worker", servers=[site.gearmand], env=site.extra_env)

    wait(browser, expected_conditions.text_to_be_present_in_element(live, "Running: 3 / 10"), "the job running")
    assert browser.execute_script("const bar = document.querySelector('.gearman-live progress');"
                                  "return [bar.value, bar.max]") == [3, 10]
    screenshot(browser, "job-running")
    release(flag)
    # Then its stored result (the site stores every job's), found by the handle its worker took it under.
    wait(browser, lambda _: texts(browser, ".gearman-status") == ["succeeded"], "the job's stored result")
    assert texts(browser, ".gearman-live") == []
    assert "'done'" in text(browser, ".gearman-stored")
    assert "nothing more will change" in text(browser, ".gearman-refreshed")
    assert browser.execute_script("return document.body.dataset.sameDocument") == "yes"


def test_a_failed_job_is_requeued_from_its_page_and_succeeds(browser, site, start_worker, tmp_path):
    start_worker("-a", "shop", "-n", "worker", servers=[site.gearmand], env=site.extra_env)
    runs = tmp_path / "runs"
    manage_py("gearman_submit", "shop.worker.fail_the_first_time", json.dumps([str(runs)]), "--background",
              env=site.env)
    log_in(browser, site, STAFF, "/admin/django_gearman/jobresult/?status__exact=failed")

    def failed_job_listed(_):  # the list is not live: read it again until the worker has recorded the failure
        browser.refresh()
        return texts(browser, "#result_list tbody th a")

    [job_id] = wait(browser, failed_job_listed, "the failed job in the list")
    screenshot(browser, "jobs")
    browser.find_element(By.LINK_TEXT, job_id).click()
    wait(browser, lambda _: "the first run fails" in text(browser, "#content-main"), "the failed job's page")
    page = text(browser, "#content-main")
    assert "RuntimeError" in page and "Traceback (most recent call last)" in page
    assert f"shop.worker.fail_the_first_time('{runs}')" in page
    screenshot(browser, "job-failed")

    browser.find_element(By.CSS_SELECTOR, "form.gearman-requeue button").click()

    wait(browser, lambda _: texts(browser, ".gearman-status") == ["succeeded"], "the requeued job to succeed")
    assert text(browser, ".messagelist").startswith(f"Job {job_id} sent again as ")
    stored = text(browser, ".gearman-stored")
    assert "'second try'" in stored and f"Requeued from\t{job_id}" in stored
    assert runs.read_text() == "xx"
    screenshot(browser, "job-requeued")
