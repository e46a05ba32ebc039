"""support.netns: namespaces linked by a veth pair that a test cuts and restores, with a real
gearmand on one side and a real `manage.py gearman_worker` on the other."""

from __future__ import annotations

import socket
import subprocess
import time

import pytest
from support.gearmand import function_status, wait_status
from support.netns import Network
from support.waiting import wait_for
from support.workers import RESULT_TIMEOUT, HookLog, client, release, submit

from django_gearman.protocol import AdminClient

WAIT = "shop.worker.wait_for_file"
#: How long the held job's link stays cut: longer than a few TCP retransmissions.
PARTITION_SECONDS = 2.0


def test_link_addresses_exist_only_inside_the_namespaces(network):
    servers, workers = network.namespace("servers"), network.namespace("workers")
    link = network.link(servers, workers)
    gearmand = servers.start_gearmand()

    with pytest.raises(ConnectionRefusedError):  # here, it is this machine's loopback, and nothing listens
        socket.create_connection((link.first_address, gearmand.port), timeout=2)
    workers.connect((link.first_address, gearmand.port)).close()
    with AdminClient(gearmand.address, timeout=2) as admin:  # through the relay into `servers`
        assert admin.getpid() == gearmand.pid


def test_a_cut_link_swallows_packets_and_a_restored_one_carries_them_again(network):
    servers, workers = network.namespace("servers"), network.namespace("workers")
    link = network.link(servers, workers)
    gearmand = servers.start_gearmand()
    target = (link.first_address, gearmand.port)

    link.cut()
    started = time.monotonic()
    with pytest.raises(TimeoutError):  # no reset, no "no route to host": the SYN vanishes
        workers.connect(target, timeout=1)
    assert time.monotonic() - started >= 1
    with AdminClient(gearmand.address, timeout=2) as admin:  # the test's own way in is not cut
        assert admin.getpid() == gearmand.pid

    link.restore()
    workers.connect(target, timeout=5).close()


def test_cutting_one_of_two_links_leaves_the_other_alone(network):
    first, second, clients = network.namespace("first"), network.namespace("second"), network.namespace("clients")
    links = [network.link(first, clients), network.link(second, clients)]
    targets = [(link.first_address, link.first.start_gearmand().port) for link in links]

    links[0].cut()
    with pytest.raises(TimeoutError):
        clients.connect(targets[0], timeout=1)
    clients.connect(targets[1], timeout=5).close()


def test_everything_is_removed_afterwards_even_a_process_left_running_inside():
    with Network() as network:
        namespace = network.namespace("leftover")
        network.link(namespace, network.namespace("other"))
        sleeper = subprocess.Popen([*namespace.exec_prefix, "sleep", "300"])
        wait_for(lambda: sleeper.pid in namespace.pids(), message="sleep to run in the namespace")
        names = [namespace.name for namespace in network.namespaces]
    assert sleeper.wait(timeout=10) == -9
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True).stdout
    assert not [name for name in names if name in listed]


def test_a_worker_across_a_link_cut_mid_job_finishes_it_once_the_link_is_back(network, start_worker, tmp_path,
                                                                               in_background):
    servers, workers = network.namespace("gearmand"), network.namespace("worker")
    link = network.link(servers, workers)
    gearmand = servers.start_gearmand()
    hooks = HookLog(tmp_path / "hooks.log")
    worker = start_worker("-a", "shop", "-n", "worker", servers=[link.address(gearmand)], env=hooks.env,
                          prefix=workers.exec_prefix, registered_on=[gearmand])
    assert submit(gearmand, "shop.worker.whoami") == worker.pid

    release_file = tmp_path / "release"
    gearman = client(gearmand)
    held = in_background(gearman.submit_job, WAIT, args=[str(release_file)], poll_timeout=RESULT_TIMEOUT)
    wait_status(gearmand, WAIT, running=1)
    link.cut()
    cut_at = time.monotonic()
    release(release_file)
    hooks.wait_for("task_finished", pid=worker.pid, count=2)  # the worker is done and has replied
    time.sleep(max(0.0, cut_at + PARTITION_SECONDS - time.monotonic()))  # not a wait: the partition's length
    assert function_status(gearmand, WAIT).running == 1  # the reply has not crossed
    assert not held.done()

    link.restore()
    restored_at = time.monotonic()
    assert held.result(RESULT_TIMEOUT) == "done"
    delivered_after = time.monotonic() - restored_at
    gearman.close()
    assert submit(gearmand, "shop.worker.whoami") == worker.pid  # the same process serves on
    print(f"partition of {PARTITION_SECONDS:.1f} s with a job held: 3 jobs sent, 3 run, 0 lost; the held job's "
          f"reply arrived {delivered_after:.2f} s after the link came back; "
          f"worker reconnects: {worker.output.count('reconnecting')}")
