"""README's durable gearmand command lines, run as written but for the test machine's address,
file and database: each gearmand keeps its queued background jobs across a SIGKILL."""

from __future__ import annotations

import re
import shlex
import uuid
from pathlib import Path

import pytest
from support.gearmand import unique_ids

from django_gearman.protocol import Client, JobRequest

README = Path(__file__).resolve().parents[2] / "README.md"


def readme_gearmand_lines() -> dict[str, list[str]]:
    """The options of each `gearmand` line of README's Durable queues block, by queue type."""
    section = README.read_text().split("### Durable queues", 1)[1]
    [block] = re.findall(r"```sh\n(.*?)```", section.split("\n### ", 1)[0], re.S)
    lines = [shlex.split(line) for line in block.splitlines() if line.startswith("gearmand ")]
    return {words[words.index("-q") + 1]: words[1:] for words in lines}


def test_the_readme_names_both_queues():
    assert set(readme_gearmand_lines()) == {"libsqlite3", "postgres"}


@pytest.mark.parametrize("queue", ["libsqlite3", "postgres"])
def test_a_readme_gearmand_keeps_its_queue_across_a_sigkill(queue, gearmand_factory, request, tmp_path):
    options = []
    for option in readme_gearmand_lines()[queue]:
        if option.startswith("--listen="):
            continue  # the test's gearmand listens on 127.0.0.1, on a port of its own
        if option.startswith("--libsqlite3-db="):
            option = f"--libsqlite3-db={tmp_path / 'queue.sqlite'}"
        if option.startswith("--libpq-conninfo="):
            cluster = request.getfixturevalue("postgres_cluster")
            option = f"--libpq-conninfo={cluster.conninfo(cluster.create_database(f'q_{uuid.uuid4().hex[:8]}'))}"
        options.append(option)
    gearmand = gearmand_factory(*options)
    jobs = [JobRequest("nobody.serves.this", b"%d" % n, background=True) for n in range(100)]
    Client([gearmand.address]).submit_multiple_jobs(jobs, poll_timeout=30)
    gearmand.kill()
    gearmand.start()
    assert sorted(unique_ids(gearmand)) == sorted(job.unique.decode() for job in jobs)
