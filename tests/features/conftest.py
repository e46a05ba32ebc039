"""Fixtures for the feature tests: testproject workers that keep their output
(collected log lines, e-mails) in the test's own directory."""

from __future__ import annotations

from pathlib import Path

import pytest

from django_gearman import GearmanClient


@pytest.fixture
def shop_data(tmp_path, settings) -> Path:
    """The SHOP_DATA_DIR of this test, in this process and in the workers it starts."""
    settings.SHOP_DATA_DIR = tmp_path / "shop"
    return settings.SHOP_DATA_DIR


@pytest.fixture
def serve(gearman_settings, start_worker, shop_data):
    """`serve("recipes", "--prefetch", "1")` runs `manage.py gearman_worker -a shop -n recipes
    --prefetch 1` against the test's gearmand; `wait=False` returns before it registered."""

    def serve(worker: str, *options: str, wait: bool = True):
        return start_worker("-a", "shop", "-n", worker, *options, servers=[gearman_settings],
                            env={"SHOP_DATA_DIR": str(shop_data)}, wait=wait)

    return serve


@pytest.fixture
def gearman(gearman_settings):
    """A GearmanClient for the test's gearmand."""
    client = GearmanClient()
    yield client
    client.close()
