"""One worker process, several gearmands, and gearmands that come and go."""

from support.gearmand import reserved_port
from support.waiting import wait_for
from support.workers import submit

WORKER = ("-a", "shop", "-n", "worker")


def lines_with(text: str, output: str) -> list[str]:
    return [line for line in output.splitlines() if text in line]


def test_serves_jobs_from_every_server(gearmand_factory, start_worker):
    servers = [gearmand_factory(), gearmand_factory()]
    worker = start_worker(*WORKER, servers=servers)
    assert [submit(server, "shop.worker.whoami") for server in servers] == [worker.pid, worker.pid]


def test_reconnects_after_gearmand_restarts_and_says_so_once(gearmand, start_worker):
    worker = start_worker(*WORKER, servers=[gearmand])
    gearmand.restart()
    worker.wait_registered()
    assert submit(gearmand, "shop.worker.add", 2, 3) == 5
    assert worker.process.poll() is None

    assert len(lines_with(f"{gearmand.address} closed the connection; reconnecting", worker.output)) == 1
    assert len(lines_with(f"connected to gearmand at {gearmand.address} again", worker.output)) == 1
    assert not lines_with("cannot connect", worker.output)  # failed retries are not logged one by one


def test_server_down_at_start_is_served_once_it_comes_up(gearmand_factory, start_worker):
    up = gearmand_factory()
    with reserved_port() as late_port:  # refused, and nobody else's, until gearmand starts on it
        late_address = f"127.0.0.1:{late_port}"
        worker = start_worker(*WORKER, servers=[up.address, late_address], wait=False)
        wait_for(lambda: worker.registered(up.address), message=f"the worker to register with {up}")
        assert submit(up, "shop.worker.whoami") == worker.pid
        wait_for(lambda: lines_with(f"cannot connect to gearmand at {late_address}", worker.output),
                 message="the worker to report the server that is down")

    late = gearmand_factory(port=late_port)
    wait_for(lambda: worker.registered(late.address), message=f"the worker to register with {late}")
    assert submit(late, "shop.worker.whoami") == worker.pid
    assert len(lines_with("cannot connect", worker.output)) == 1
    assert len(lines_with(f"connected to gearmand at {late_address} again", worker.output)) == 1
