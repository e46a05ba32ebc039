"""Every exception the package defines lives in django_gearman.exceptions (the protocol's own in
protocol/errors.py, re-exported there) and derives from GearmanError."""

import importlib
import inspect
import pkgutil

import django_gearman
from django_gearman import exceptions
from django_gearman.exceptions import GearmanError, UnknownWorker

HOMES = {"django_gearman.exceptions", "django_gearman.protocol.errors"}


def defined_exceptions():
    for info in pkgutil.walk_packages(django_gearman.__path__, "django_gearman."):
        module = importlib.import_module(info.name)
        for value in vars(module).values():
            if inspect.isclass(value) and issubclass(value, BaseException) and value.__module__ == info.name:
                yield value


def test_every_exception_is_defined_in_exceptions_and_is_a_gearman_error():
    found = set(defined_exceptions())
    assert {error.__module__ for error in found} <= HOMES
    assert [error.__qualname__ for error in found if not issubclass(error, GearmanError)] == []
    assert {error.__name__ for error in found} == set(exceptions.__all__)
    assert all(getattr(exceptions, error.__name__) is error for error in found)


def test_an_unknown_worker_is_a_gearman_error_and_a_lookup_error():
    assert issubclass(UnknownWorker, GearmanError) and issubclass(UnknownWorker, LookupError)
