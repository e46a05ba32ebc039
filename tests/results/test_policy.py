"""The pure rules behind retries and time limits: backoff, gearmand's CAN_DO_TIMEOUT, task options."""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured

from django_gearman import gearman_task, registry
from django_gearman.exceptions import PayloadError
from django_gearman.execution import GEARMAND_TIMEOUT_GRACE, RETRY_BACKOFF_CAP, gearmand_timeout_ms, retry_delay


@pytest.fixture
def define(isolated_registry):
    """`define(**options)` makes a throwaway task with those @gearman_task options."""

    def make(**options):
        def work(): ...

        return gearman_task(name=f"policy.work.{len(registry._tasks)}", **options)(work)

    return make


@pytest.fixture
def isolated_registry():
    known = dict(registry._tasks)
    yield
    registry._tasks.clear()
    registry._tasks.update(known)


def test_the_backoff_doubles_with_jitter_up_to_the_cap(define):
    task = define(retries=12, retry_backoff=2)
    for attempt in range(1, 13):
        longest = min(RETRY_BACKOFF_CAP, 2 * 2 ** (attempt - 1))
        delays = {retry_delay(task, attempt, ConnectionError()) for _ in range(50)}
        assert all(longest / 2 <= delay <= longest for delay in delays)
        assert len(delays) > 1  # jittered
    assert retry_delay(task, 13, ConnectionError()) is None  # retries used up


def test_what_is_not_retried(define):
    task = define(retries=3, retry_on=(ConnectionError, TimeoutError))
    assert retry_delay(task, 1, ValueError()) is None
    assert retry_delay(task, 1, TimeoutError()) is not None
    assert retry_delay(define(retries=3), 1, PayloadError("unreadable")) is None  # would fail the same again
    assert retry_delay(define(), 1, ConnectionError()) is None  # no retries asked for


def test_gearmand_steps_in_only_after_every_attempt_and_backoff_plus_a_grace(define):
    assert gearmand_timeout_ms(define(), None) is None
    assert gearmand_timeout_ms(define(timeout=10), None) == (10 + GEARMAND_TIMEOUT_GRACE) * 1000
    assert gearmand_timeout_ms(define(timeout=10, retries=2, retry_backoff=1), None) == (
        10 * 3 + 1 + 2 + GEARMAND_TIMEOUT_GRACE) * 1000
    assert gearmand_timeout_ms(define(), 5) == (5 + GEARMAND_TIMEOUT_GRACE) * 1000  # GEARMAN_TASK_TIMEOUT
    assert gearmand_timeout_ms(define(timeout=2), 5) == (2 + GEARMAND_TIMEOUT_GRACE) * 1000


@pytest.mark.parametrize(("options", "message"), [
    ({"store_result": "yes"}, "store_result must be True, False or None, not 'yes'"),
    ({"retries": -1}, "retries must be a whole number >= 0, not -1"),
    ({"retries": 1.5}, "retries must be a whole number >= 0, not 1.5"),
    ({"retry_backoff": -2}, "retry_backoff must be a number of seconds >= 0, not -2"),
    ({"retry_on": "ConnectionError"}, "retry_on must be an exception class or a tuple of them"),
    ({"retry_on": (ValueError, int)}, "retry_on must be an exception class or a tuple of them"),
    ({"timeout": 0}, "timeout must be a positive number of seconds or None, not 0"),
])
def test_bad_options_are_refused_naming_the_task(define, options, message):
    with pytest.raises(ImproperlyConfigured, match=rf"@gearman_task for .*work .*: {message}"):
        define(**options)


def test_a_single_exception_class_is_a_retry_on_of_one(define):
    assert define(retries=1, retry_on=ConnectionError).retry_on == (ConnectionError,)
