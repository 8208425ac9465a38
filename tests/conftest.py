import os
import shutil
import socket
import subprocess
import sys

import pytest

from seoulfall import Scenario


@pytest.fixture(scope="session")
def small_seoul():
    """Seoul at 1/500 scale (about 19,000 agents) for half a day: fast but spatial."""
    return Scenario.load(
        "seoul-falls", {"population.scale": 0.002, "time.days": 0.5, "outbreak.zombies": 20}
    )


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def dask_scheduler():
    """A separate Dask scheduler and two workers on loopback (``dask scheduler`` and
    ``dask worker`` processes): its address; stopped after the tests."""
    port = _free_port()
    dask = shutil.which("dask") or os.path.join(os.path.dirname(sys.executable), "dask")
    env = {**os.environ, "DASK_DISTRIBUTED__WORKER__DAEMON": "False"}
    sched = subprocess.Popen(
        # its HTTP server on a free port: 8787 stays free for the local clusters of other tests
        [dask, "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard",
         "--dashboard-address", "127.0.0.1:0"],  # fmt: skip
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    addr = f"tcp://127.0.0.1:{port}"
    workers = [
        subprocess.Popen(
            [dask, "worker", addr, "--nthreads", "1", "--no-dashboard", "--host", "127.0.0.1"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=env,
        )
        for _ in range(2)
    ]
    try:
        yield addr
    finally:
        for p in [*workers, sched]:
            p.terminate()
        for p in [*workers, sched]:
            p.wait(timeout=30)
