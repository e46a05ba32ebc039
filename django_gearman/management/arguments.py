"""argparse types shared by the management commands: bad values become usage errors naming the problem."""

import argparse
import json

from django_gearman.protocol import ServerAddress


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be more than 0, got {text}")
    return value


def server_list(text: str) -> list[str]:
    """"host:port,host2" into ["host:port", "host2:4730"], each address checked."""
    try:
        return [str(ServerAddress.parse(server)) for server in text.split(",")]
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def json_array(text: str) -> list:
    value = _json(text)
    if not isinstance(value, list):
        raise argparse.ArgumentTypeError(f"must be a JSON array of positional arguments, got {text!r}")
    return value


def json_object(text: str) -> dict:
    value = _json(text)
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f"must be a JSON object of keyword arguments, got {text!r}")
    return value


def _json(text: str):
    try:
        return json.loads(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r} is not valid JSON: {exc}") from None
