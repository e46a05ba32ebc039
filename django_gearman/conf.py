"""The app's settings, read from django.conf.settings when first used.

`get()` keeps what it read until a GEARMAN_* setting changes (Django's
`setting_changed` signal, sent by `override_settings` and pytest-django's
`settings` fixture). `problems()` is the one place that validates them, used
both by the system checks and at run time.
"""

from __future__ import annotations

import numbers
import os
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed
from django.utils.module_loading import import_string

from . import periodic
from .protocol import DEFAULT_MAX_PAYLOAD_SIZE, ServerAddress

DEFAULT_SERVERS = ("127.0.0.1:4730",)
DEFAULT_SUBMIT_TIMEOUT = 5.0
DEFAULT_RESULT_TTL = 7 * 24 * 3600  # a week, in seconds
BUILTIN_SERIALIZERS = ("json", "pickle")
TLS_KEYS = ("ca_file", "cert_file", "key_file", "server_hostname")


@dataclass(frozen=True)
class Problem:
    id: str
    message: str
    hint: str | None = None
    error: bool = True


@dataclass(frozen=True)
class GearmanSettings:
    client_servers: tuple[str, ...]
    worker_servers: tuple[str, ...]
    task_prefix: str
    serializer: str
    default_timeout: float | None
    submit_timeout: float | None
    always_eager: bool
    store_results: bool
    result_ttl: float | None
    task_timeout: float | None
    failure_tracebacks: bool
    # Never in the repr: debug pages and error trackers print settings objects they find.
    signing_key: str | bytes | None = field(repr=False)
    signing_key_fallbacks: tuple[str | bytes, ...] = field(repr=False)
    metrics_token: str | None = None
    tls: Mapping | None = None  # GEARMAN_TLS as given
    ssl_context: ssl.SSLContext | None = None  # built from it
    max_payload_size: int = DEFAULT_MAX_PAYLOAD_SIZE

    @property
    def tls_options(self) -> dict:
        """The protocol's TLS arguments (`ssl_context`, `server_hostname`) for every connection."""
        return {"ssl_context": self.ssl_context, "server_hostname": (self.tls or {}).get("server_hostname")}
    schedule: tuple[periodic.ScheduleEntry, ...] = ()  # GEARMAN_SCHEDULE


def _server_setting(name: str):
    """(setting name actually used, value) for the client or worker server list."""
    if getattr(settings, name, None) is not None:
        return name, getattr(settings, name)
    if getattr(settings, "GEARMAN_SERVERS", None) is not None:
        return "GEARMAN_SERVERS", settings.GEARMAN_SERVERS
    return name, DEFAULT_SERVERS


def _server_problems(name: str, servers) -> list[Problem]:
    if isinstance(servers, (str, bytes)) or not isinstance(servers, (list, tuple)):
        return [Problem(
            "django_gearman.E001",
            f"{name} must be a list of 'host' or 'host:port' strings, not {type(servers).__name__}.",
            f"For example: {name} = ['127.0.0.1:4730'].",
        )]
    if not servers:
        return [Problem("django_gearman.E001", f"{name} is empty.", "List at least one gearmand.")]
    found = []
    for server in servers:
        try:
            ServerAddress.parse(server)
        except ValueError as exc:
            found.append(Problem("django_gearman.E002", f"{name}: {exc}.", "Use 'host' or 'host:port'."))
    return found


def _requires_signing(serializer) -> bool:
    """Whether the serializer can run code while loading (its class sets requires_signing)."""
    if serializer == "pickle":
        return True
    try:
        return bool(getattr(import_string(serializer), "requires_signing", False))
    except (ImportError, TypeError, ValueError):
        return False  # reported as E003


def _custom_serializer_problems(path: str) -> list[Problem]:
    try:
        serializer = import_string(path)
    except ImportError as exc:
        return [Problem("django_gearman.E003", f"GEARMAN_SERIALIZER {path!r} cannot be imported: {exc}.")]
    missing = [method for method in ("dumps", "loads") if not callable(getattr(serializer, method, None))]
    if missing:
        return [Problem(
            "django_gearman.E003",
            f"GEARMAN_SERIALIZER {path!r} has no {' or '.join(missing)} method.",
            "A serializer class has dumps(value) -> bytes and loads(bytes) -> value.",
        )]
    return []


def _seconds_or_none(value) -> bool:
    return value is None or (not isinstance(value, bool) and isinstance(value, numbers.Real) and float(value) > 0)


def _seconds_problems(name: str, default, check_id: str, none_means: str = "", hint: str | None = None):
    """A setting that must be a positive number of seconds or None."""
    value = getattr(settings, name, default)
    if _seconds_or_none(value):
        return []
    return [Problem(check_id, f"{name} must be a positive number of seconds or None{none_means}, not {value!r}.",
                    hint)]


def _fallback_problems(key, fallbacks) -> list[Problem]:
    # The keys themselves never go into a message.
    if isinstance(fallbacks, (str, bytes)) or not isinstance(fallbacks, (list, tuple)) or not all(
        isinstance(fallback, (str, bytes)) and fallback for fallback in fallbacks
    ):
        return [Problem(
            "django_gearman.E010",
            "GEARMAN_SIGNING_KEY_FALLBACKS must be a list of non-empty strings "
            f"(a {type(fallbacks).__name__} is set).",
            "For example: GEARMAN_SIGNING_KEY_FALLBACKS = [OLD_KEY] while rotating keys.",
        )]
    if fallbacks and not key:
        return [Problem(
            "django_gearman.E010",
            "GEARMAN_SIGNING_KEY_FALLBACKS is set without GEARMAN_SIGNING_KEY: nothing would be verified.",
            "Set GEARMAN_SIGNING_KEY to the current key; the fallbacks are older keys still accepted.",
        )]
    return []


def _result_problems() -> list[Problem]:
    found = []
    if not isinstance(getattr(settings, "GEARMAN_STORE_RESULTS", False), bool):
        found.append(Problem("django_gearman.E014", "GEARMAN_STORE_RESULTS must be True or False, not "
                                                    f"{settings.GEARMAN_STORE_RESULTS!r}."))
    found += _seconds_problems("GEARMAN_RESULT_TTL", DEFAULT_RESULT_TTL, "django_gearman.E015", " (keep results)")
    found += _seconds_problems("GEARMAN_TASK_TIMEOUT", None, "django_gearman.E016", " (no limit)")
    return found


def problems() -> list[Problem]:
    found = []
    checked = set()
    for name in ("GEARMAN_CLIENT_SERVERS", "GEARMAN_WORKER_SERVERS"):
        used, servers = _server_setting(name)
        if used not in checked:  # GEARMAN_SERVERS may stand for both
            checked.add(used)
            found += _server_problems(used, servers)
    serializer = getattr(settings, "GEARMAN_SERIALIZER", "json")
    if not isinstance(serializer, str) or (serializer not in BUILTIN_SERIALIZERS and "." not in serializer):
        found.append(Problem(
            "django_gearman.E003",
            f"GEARMAN_SERIALIZER {serializer!r} is unknown.",
            "Use 'json', 'pickle' or the dotted path of a serializer class.",
        ))
    elif serializer not in BUILTIN_SERIALIZERS:
        found += _custom_serializer_problems(serializer)
    key = getattr(settings, "GEARMAN_SIGNING_KEY", None)
    if key is not None and (not isinstance(key, (str, bytes)) or not key):
        found.append(Problem("django_gearman.E004", "GEARMAN_SIGNING_KEY must be a non-empty string or None."))
    if not key and _requires_signing(serializer):
        found.append(Problem(
            "django_gearman.E005",
            f"GEARMAN_SERIALIZER = {serializer!r} requires GEARMAN_SIGNING_KEY: loading unsigned payloads "
            "with it lets anyone who can reach gearmand run code on your workers.",
            "Set GEARMAN_SIGNING_KEY to a long random secret shared by clients and workers.",
        ))
    found += _fallback_problems(key, getattr(settings, "GEARMAN_SIGNING_KEY_FALLBACKS", ()))
    tracebacks = getattr(settings, "GEARMAN_FAILURE_TRACEBACKS", True)
    if not isinstance(tracebacks, bool):
        found.append(Problem(
            "django_gearman.E011", f"GEARMAN_FAILURE_TRACEBACKS must be True or False, not {tracebacks!r}."
        ))
    found += _seconds_problems("GEARMAN_DEFAULT_TIMEOUT", None, "django_gearman.E006")
    found += _seconds_problems(
        "GEARMAN_SUBMIT_TIMEOUT", DEFAULT_SUBMIT_TIMEOUT, "django_gearman.E008",
        hint="It bounds how long a silent server may keep a job waiting for its acknowledgement.",
    )
    prefix = getattr(settings, "GEARMAN_TASK_PREFIX", "")
    if not isinstance(prefix, str) or any(c.isspace() or c == "\0" for c in prefix):
        found.append(Problem(
            "django_gearman.E007", f"GEARMAN_TASK_PREFIX must be a string without whitespace, not {prefix!r}."
        ))
    found += _metrics_token_problems(getattr(settings, "GEARMAN_METRICS_TOKEN", None))
    found += _tls_problems(getattr(settings, "GEARMAN_TLS", None))
    size = getattr(settings, "GEARMAN_MAX_PAYLOAD_SIZE", DEFAULT_MAX_PAYLOAD_SIZE)
    if isinstance(size, bool) or not isinstance(size, int) or not 0 < size < 2**32:
        found.append(Problem(
            "django_gearman.E013",
            f"GEARMAN_MAX_PAYLOAD_SIZE must be a whole number of bytes from 1 to 2**32 - 1, not {size!r}.",
        ))
    found += _result_problems()
    found += [Problem("django_gearman.E017", f"{message}.") for message in periodic.problems(_schedule_setting())]
    if getattr(settings, "GEARMAN_ALWAYS_EAGER", False) and not settings.DEBUG:
        found.append(Problem(
            "django_gearman.W001",
            "GEARMAN_ALWAYS_EAGER is on while DEBUG is off: tasks run inside the web process, not on workers.",
            error=False,
        ))
    return found


#: Fewer characters than this are too easy to guess for a secret that guards a view.
MIN_METRICS_TOKEN_LENGTH = 16


def _metrics_token_problems(token) -> list[Problem]:
    """A token that is not a long secret without whitespace (described, never shown: it is a secret)."""
    if token is None:
        return []
    if not isinstance(token, str):
        fault = f"not {type(token).__name__}"
    elif len(token) < MIN_METRICS_TOKEN_LENGTH:
        fault = f"it has {len(token)}"
    elif any(c.isspace() for c in token):
        fault = "it contains whitespace"
    else:
        return []
    return [Problem(
        "django_gearman.E012",
        f"GEARMAN_METRICS_TOKEN must be None or a string of at least {MIN_METRICS_TOKEN_LENGTH} characters "
        f"without whitespace; {fault}.",
        "For example: python -c 'import secrets; print(secrets.token_urlsafe(32))'.",
    )]


def _tls_problems(tls) -> list[Problem]:
    if tls is None:
        return []
    if not isinstance(tls, Mapping):
        return [_tls_problem(f"GEARMAN_TLS must be None or a dict, not {type(tls).__name__}.")]
    found = []
    unknown = sorted(map(str, set(tls) - set(TLS_KEYS)))
    if unknown:
        found.append(_tls_problem(f"GEARMAN_TLS has unknown keys {unknown}."))
    if "ca_file" not in tls:
        found.append(_tls_problem("GEARMAN_TLS has no 'ca_file', the CA certificates to verify servers against."))
    if "key_file" in tls and "cert_file" not in tls:
        found.append(_tls_problem("GEARMAN_TLS has a 'key_file' but no 'cert_file' for it."))
    for key in ("ca_file", "cert_file", "key_file"):
        if key in tls:
            found += _tls_file_problems(key, tls[key])
    hostname = tls.get("server_hostname")
    if "server_hostname" in tls and (not isinstance(hostname, str) or not hostname or " " in hostname):
        found.append(_tls_problem(f"GEARMAN_TLS['server_hostname'] must be a host name, not {hostname!r}."))
    if not found:
        try:
            tls_context(tls)
        except ValueError as exc:
            found.append(_tls_problem(f"GEARMAN_TLS: {exc}."))
    return found


def _tls_file_problems(key: str, path) -> list[Problem]:
    if not isinstance(path, (str, os.PathLike)):
        return [_tls_problem(f"GEARMAN_TLS[{key!r}] must be a path, not {type(path).__name__}.")]
    if not os.path.isfile(path):
        return [_tls_problem(f"GEARMAN_TLS[{key!r}] {os.fspath(path)!r} is not a file.")]
    if not os.access(path, os.R_OK):
        return [_tls_problem(f"GEARMAN_TLS[{key!r}] {os.fspath(path)!r} cannot be read by this process.")]
    return []


def _tls_problem(message: str) -> Problem:
    return Problem(
        "django_gearman.E009", message,
        "GEARMAN_TLS = {'ca_file': PATH, 'cert_file': PATH, 'key_file': PATH, 'server_hostname': NAME}; "
        "only ca_file is required.",
    )


def tls_context(tls: Mapping) -> ssl.SSLContext:
    """The client context GEARMAN_TLS describes; ValueError naming the file it could not load."""
    try:
        context = ssl.create_default_context(cafile=os.fspath(tls["ca_file"]))
    except ssl.SSLError as exc:
        raise ValueError(f"cannot load ca_file {os.fspath(tls['ca_file'])!r}: {exc.reason or exc}") from None
    if tls.get("cert_file"):
        key_file = os.fspath(tls["key_file"]) if tls.get("key_file") else None
        try:
            # An empty password: an encrypted key fails here instead of prompting on the terminal.
            context.load_cert_chain(os.fspath(tls["cert_file"]), key_file, password="")
        except ssl.SSLError as exc:
            raise ValueError(
                f"cannot load cert_file {os.fspath(tls['cert_file'])!r}"
                + (f" with key_file {key_file!r}" if key_file else "") + f": {exc.reason or exc}"
            ) from None
    return context


_current: GearmanSettings | None = None


def get() -> GearmanSettings:
    """The current settings; raises ImproperlyConfigured naming the first problem."""
    global _current
    current = _current
    if current is None:
        current = _current = _read()
    return current


def _read() -> GearmanSettings:
    for problem in problems():
        if problem.error:
            raise ImproperlyConfigured(f"{problem.message} ({problem.id})")
    tls = getattr(settings, "GEARMAN_TLS", None)
    return GearmanSettings(
        client_servers=tuple(_server_setting("GEARMAN_CLIENT_SERVERS")[1]),
        worker_servers=tuple(_server_setting("GEARMAN_WORKER_SERVERS")[1]),
        task_prefix=getattr(settings, "GEARMAN_TASK_PREFIX", ""),
        serializer=getattr(settings, "GEARMAN_SERIALIZER", "json"),
        default_timeout=getattr(settings, "GEARMAN_DEFAULT_TIMEOUT", None),
        submit_timeout=getattr(settings, "GEARMAN_SUBMIT_TIMEOUT", DEFAULT_SUBMIT_TIMEOUT),
        always_eager=bool(getattr(settings, "GEARMAN_ALWAYS_EAGER", False)),
        failure_tracebacks=getattr(settings, "GEARMAN_FAILURE_TRACEBACKS", True),
        signing_key=getattr(settings, "GEARMAN_SIGNING_KEY", None),
        signing_key_fallbacks=tuple(getattr(settings, "GEARMAN_SIGNING_KEY_FALLBACKS", ())),
        metrics_token=getattr(settings, "GEARMAN_METRICS_TOKEN", None),
        tls=None if tls is None else dict(tls),
        ssl_context=None if tls is None else tls_context(tls),
        max_payload_size=getattr(settings, "GEARMAN_MAX_PAYLOAD_SIZE", DEFAULT_MAX_PAYLOAD_SIZE),
        store_results=getattr(settings, "GEARMAN_STORE_RESULTS", False),
        result_ttl=getattr(settings, "GEARMAN_RESULT_TTL", DEFAULT_RESULT_TTL),
        task_timeout=getattr(settings, "GEARMAN_TASK_TIMEOUT", None),
        schedule=periodic.entries(_schedule_setting()),
    )


def _schedule_setting():
    return getattr(settings, "GEARMAN_SCHEDULE", None)


def _forget(setting: str, **kwargs) -> None:
    global _current
    if setting.startswith("GEARMAN_"):
        _current = None


setting_changed.connect(_forget)
