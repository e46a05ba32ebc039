"""GEARMAN_* settings: defaults, lazy reading, and the system checks that validate them."""

import pytest
from django.core.checks import run_checks
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.test import override_settings

from django_gearman import GearmanClient, conf

GEARMAN_SETTINGS = (
    "GEARMAN_SERVERS", "GEARMAN_CLIENT_SERVERS", "GEARMAN_WORKER_SERVERS", "GEARMAN_TASK_PREFIX",
    "GEARMAN_SERIALIZER", "GEARMAN_SIGNING_KEY", "GEARMAN_SIGNING_KEY_FALLBACKS", "GEARMAN_DEFAULT_TIMEOUT",
    "GEARMAN_SUBMIT_TIMEOUT", "GEARMAN_ALWAYS_EAGER", "GEARMAN_FAILURE_TRACEBACKS", "GEARMAN_TLS",
    "GEARMAN_MAX_PAYLOAD_SIZE", "GEARMAN_STORE_RESULTS", "GEARMAN_RESULT_TTL", "GEARMAN_TASK_TIMEOUT",
    "GEARMAN_SCHEDULE",
)


@pytest.fixture
def unset(settings):
    """Settings with no GEARMAN_* at all, as in a project that only added the app."""
    for name in GEARMAN_SETTINGS:
        if hasattr(settings, name):
            delattr(settings, name)
    return settings


def gearman_checks():
    """The settings checks' messages (W002 is about tasks: tests/core/test_task_checks.py).

    Only this app's checks: from Django 6.1 on, the model checks ask each database whether it has
    JSON fields (the result store's table does), which these database-free tests do not open."""
    return [message for message in run_checks(tags=["django_gearman"])
            if message.id.startswith("django_gearman.") and message.id != "django_gearman.W002"]


def test_defaults_are_those_of_the_spec(unset):
    assert conf.get() == conf.GearmanSettings(
        client_servers=("127.0.0.1:4730",),
        worker_servers=("127.0.0.1:4730",),
        task_prefix="",
        serializer="json",
        signing_key=None,
        signing_key_fallbacks=(),
        default_timeout=None,
        submit_timeout=5.0,
        always_eager=False,
        failure_tracebacks=True,
        store_results=False,
        result_ttl=7 * 24 * 3600,
        task_timeout=None,
        schedule=(),
    )
    assert gearman_checks() == []


def test_gearman_servers_is_the_fallback_for_clients_and_workers(unset):
    unset.GEARMAN_SERVERS = ["gearman-a:4730", "gearman-b"]
    assert conf.get().client_servers == conf.get().worker_servers == ("gearman-a:4730", "gearman-b")
    unset.GEARMAN_WORKER_SERVERS = ["local"]
    assert conf.get().client_servers == ("gearman-a:4730", "gearman-b")
    assert conf.get().worker_servers == ("local",)


def test_settings_are_read_when_used_so_override_settings_works(unset):
    client = GearmanClient()  # made before the override, as at import time
    with override_settings(GEARMAN_SERVERS=["elsewhere:4731"], GEARMAN_TASK_PREFIX="staging."):
        assert conf.get().task_prefix == "staging."
        assert client.servers == ("elsewhere:4731",)
        assert client.function_name("shop.worker.add") == "staging.shop.worker.add"
    assert conf.get().task_prefix == ""
    assert client.servers == ("127.0.0.1:4730",)


BAD_SETTINGS = [
    ({"GEARMAN_SERVERS": "127.0.0.1:4730"}, "django_gearman.E001", "GEARMAN_SERVERS must be a list"),
    ({"GEARMAN_CLIENT_SERVERS": {"host": "a"}}, "django_gearman.E001", "GEARMAN_CLIENT_SERVERS must be a list"),
    ({"GEARMAN_WORKER_SERVERS": []}, "django_gearman.E001", "GEARMAN_WORKER_SERVERS is empty"),
    ({"GEARMAN_SERVERS": ["127.0.0.1:gearman"]}, "django_gearman.E002", "port 'gearman' is not a number"),
    ({"GEARMAN_SERVERS": ["ok", ":4730"]}, "django_gearman.E002", "empty host"),
    ({"GEARMAN_SERVERS": ["127.0.0.1:99999"]}, "django_gearman.E002", "out of range"),
    ({"GEARMAN_SERVERS": [("127.0.0.1", 4730), 4730]}, "django_gearman.E002", "invalid Gearman server 4730"),
    ({"GEARMAN_SERIALIZER": "yaml"}, "django_gearman.E003", "GEARMAN_SERIALIZER 'yaml' is unknown"),
    ({"GEARMAN_SERIALIZER": "myproject.NoSuchSerializer"}, "django_gearman.E003", "cannot be imported"),
    ({"GEARMAN_SERIALIZER": "probe_serializers.NoLoads"}, "django_gearman.E003", "has no loads method"),
    ({"GEARMAN_SIGNING_KEY": ""}, "django_gearman.E004", "GEARMAN_SIGNING_KEY must be a non-empty string"),
    ({"GEARMAN_SIGNING_KEY": 1234}, "django_gearman.E004", "GEARMAN_SIGNING_KEY must be a non-empty string"),
    ({"GEARMAN_SERIALIZER": "pickle"}, "django_gearman.E005", "'pickle' requires GEARMAN_SIGNING_KEY"),
    ({"GEARMAN_SERIALIZER": "django_gearman.serializers.PickleSerializer"}, "django_gearman.E005",
     "'django_gearman.serializers.PickleSerializer' requires GEARMAN_SIGNING_KEY"),
    ({"GEARMAN_DEFAULT_TIMEOUT": 0}, "django_gearman.E006", "positive number of seconds"),
    ({"GEARMAN_DEFAULT_TIMEOUT": "30"}, "django_gearman.E006", "positive number of seconds"),
    ({"GEARMAN_DEFAULT_TIMEOUT": True}, "django_gearman.E006", "positive number of seconds"),
    ({"GEARMAN_SUBMIT_TIMEOUT": 0}, "django_gearman.E008", "GEARMAN_SUBMIT_TIMEOUT must be a positive number"),
    ({"GEARMAN_SUBMIT_TIMEOUT": "5"}, "django_gearman.E008", "GEARMAN_SUBMIT_TIMEOUT must be a positive number"),
    ({"GEARMAN_TASK_PREFIX": "my project."}, "django_gearman.E007", "without whitespace"),
    ({"GEARMAN_TASK_PREFIX": None}, "django_gearman.E007", "GEARMAN_TASK_PREFIX must be a string"),
    ({"GEARMAN_METRICS_TOKEN": "too-short"}, "django_gearman.E012", "16 characters without whitespace; it has 9."),
    ({"GEARMAN_METRICS_TOKEN": "a token with spaces in it"}, "django_gearman.E012", "; it contains whitespace"),
    ({"GEARMAN_METRICS_TOKEN": 1234567890123456789}, "django_gearman.E012", "; not int"),
    ({"GEARMAN_SIGNING_KEY": "k", "GEARMAN_SIGNING_KEY_FALLBACKS": "old"}, "django_gearman.E010",
     "GEARMAN_SIGNING_KEY_FALLBACKS must be a list of non-empty strings (a str is set)"),
    ({"GEARMAN_SIGNING_KEY": "k", "GEARMAN_SIGNING_KEY_FALLBACKS": ["old", ""]}, "django_gearman.E010",
     "GEARMAN_SIGNING_KEY_FALLBACKS must be a list of non-empty strings (a list is set)"),
    ({"GEARMAN_SIGNING_KEY_FALLBACKS": ["old"]}, "django_gearman.E010",
     "GEARMAN_SIGNING_KEY_FALLBACKS is set without GEARMAN_SIGNING_KEY: nothing would be verified"),
    ({"GEARMAN_FAILURE_TRACEBACKS": "no"}, "django_gearman.E011", "GEARMAN_FAILURE_TRACEBACKS must be True or False"),
    ({"GEARMAN_TLS": "/etc/ca.pem"}, "django_gearman.E009", "GEARMAN_TLS must be None or a dict, not str"),
    ({"GEARMAN_MAX_PAYLOAD_SIZE": 0}, "django_gearman.E013", "whole number of bytes from 1 to 2**32 - 1, not 0"),
    ({"GEARMAN_MAX_PAYLOAD_SIZE": "64M"}, "django_gearman.E013", "whole number of bytes from 1 to 2**32 - 1"),
    ({"GEARMAN_MAX_PAYLOAD_SIZE": 2**32}, "django_gearman.E013", "not 4294967296"),
    ({"GEARMAN_STORE_RESULTS": "yes"}, "django_gearman.E014", "GEARMAN_STORE_RESULTS must be True or False"),
    ({"GEARMAN_RESULT_TTL": 0}, "django_gearman.E015", "GEARMAN_RESULT_TTL must be a positive number"),
    ({"GEARMAN_RESULT_TTL": "1d"}, "django_gearman.E015", "GEARMAN_RESULT_TTL must be a positive number"),
    ({"GEARMAN_TASK_TIMEOUT": -1}, "django_gearman.E016", "GEARMAN_TASK_TIMEOUT must be a positive number"),
]


@pytest.mark.parametrize(("overrides", "check_id", "text"), BAD_SETTINGS, ids=[case[2] for case in BAD_SETTINGS])
def test_a_bad_setting_is_one_error_naming_it(unset, overrides, check_id, text):
    for name, value in overrides.items():
        setattr(unset, name, value)
    (error,) = gearman_checks()  # exactly one, even where GEARMAN_SERVERS serves clients and workers
    assert (error.id, error.level) == (check_id, 40)
    assert text in error.msg
    with pytest.raises(ImproperlyConfigured, match=check_id):
        conf.get()


def test_good_variants_pass(unset):
    unset.GEARMAN_CLIENT_SERVERS = ("gearman-1", "gearman-2:4731", "[::1]:4730", ("10.0.0.5", 4730))
    unset.GEARMAN_SERIALIZER = "probe_serializers.HeaderedJSON"
    unset.GEARMAN_SIGNING_KEY = b"bytes are fine too"
    unset.GEARMAN_SIGNING_KEY_FALLBACKS = ["an older key", b"an even older one"]
    unset.GEARMAN_FAILURE_TRACEBACKS = False
    unset.GEARMAN_DEFAULT_TIMEOUT = 2.5
    unset.GEARMAN_SUBMIT_TIMEOUT = None
    unset.GEARMAN_TASK_PREFIX = "staging."
    unset.GEARMAN_METRICS_TOKEN = "k3Yb2-7qPzR_w9xVt4sL"
    unset.GEARMAN_MAX_PAYLOAD_SIZE = 1024
    unset.GEARMAN_STORE_RESULTS = True
    unset.GEARMAN_RESULT_TTL = None
    unset.GEARMAN_TASK_TIMEOUT = 0.5
    assert gearman_checks() == []
    unset.GEARMAN_SERIALIZER = "pickle"  # allowed now: there is a signing key
    assert gearman_checks() == []


def test_no_key_is_in_the_settings_repr_or_a_check_message(unset):
    unset.GEARMAN_SIGNING_KEY, unset.GEARMAN_SIGNING_KEY_FALLBACKS = "current-secret", ["old-secret"]
    assert "secret" not in repr(conf.get())
    unset.GEARMAN_SIGNING_KEY_FALLBACKS = ("old-secret", 5)
    (error,) = gearman_checks()
    assert "secret" not in error.msg and "secret" not in str(error.hint)


def test_always_eager_without_debug_is_a_warning(unset):
    unset.GEARMAN_ALWAYS_EAGER = True
    unset.DEBUG = True
    assert gearman_checks() == []
    unset.DEBUG = False
    (warning,) = gearman_checks()
    assert (warning.id, warning.level) == ("django_gearman.W001", 30)
    assert conf.get().always_eager  # a warning does not stop anything


@pytest.mark.django_db  # the whole check, which on Django 6.1 asks the database about JSON fields
def test_manage_py_check_reports_the_problem(unset):
    unset.GEARMAN_SERVERS = ["127.0.0.1:gearman"]
    with pytest.raises(SystemCheckError, match=r"django_gearman\.E002.*port 'gearman' is not a number"):
        call_command("check")


def test_submitting_with_bad_settings_fails_naming_the_problem(unset):
    client = GearmanClient()
    unset.GEARMAN_SERIALIZER = "pickle"
    with pytest.raises(ImproperlyConfigured, match=r"requires GEARMAN_SIGNING_KEY.*\(django_gearman\.E005\)"):
        client.submit_job("shop.worker.add", args=[1, 2])
