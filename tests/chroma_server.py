"""A real `chroma run` server for tests: on a free loopback port, stopped (and restartable) on demand."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

CHROMA = Path(sys.executable).parent / "chroma"


def free_port() -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class ChromaServer:
    """One `chroma run` process over a data folder; `stop` then `start` keeps the same path and port."""

    def __init__(self, path: Path, port: int | None = None) -> None:
        self.path = path
        self.port = port or free_port()
        self.log = path.parent / f"{path.name}.log"
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """Base URL of the server."""
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> None:
        """Start the server and return once its heartbeat answers."""
        command = [str(CHROMA), "run", "--path", str(self.path), "--port", str(self.port), "--host", "127.0.0.1"]
        # The server logs every request: into a file, since an unread pipe would fill and block it.
        with self.log.open("ab") as log:
            self._process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while not self.alive():
            if self._process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"chroma run did not come up on port {self.port}; see {self.log}")
            time.sleep(0.1)

    def alive(self) -> bool:
        """True when the heartbeat answers."""
        try:
            with urllib.request.urlopen(f"{self.url}/api/v2/heartbeat", timeout=1) as response:
                return response.status == 200
        except OSError:
            return False

    def stop(self, grace: float = 10.0) -> None:
        """SIGTERM, then SIGKILL if it has not exited within `grace` seconds."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(grace)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextmanager
def running_server(path: Path) -> Iterator[ChromaServer]:
    """A started server that is stopped however the block ends."""
    server = ChromaServer(path)
    try:
        server.start()
        yield server
    finally:
        server.stop()
