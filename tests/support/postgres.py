"""A real, throwaway PostgreSQL server on 127.0.0.1 for tests and benchmarks.

Uses Debian's `postgresql` binaries (`make test-deps` installs them): `initdb` makes a cluster in a
temporary folder and `postgres` serves it on a free loopback port. PostgreSQL refuses to run as
root, so under root the cluster belongs to the `postgres` system user and every server command runs
through `runuser`. Nothing outside the temporary folder is touched.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

_BIN_ROOT = Path("/usr/lib/postgresql")
_START_TIMEOUT = 60.0


class PostgresUnavailable(Exception):
    """Why no PostgreSQL server can be started here (a test skips with this reason)."""


def binaries() -> Path:
    """The newest installed PostgreSQL server's bin folder."""
    found = sorted((p for p in _BIN_ROOT.glob("*/bin") if (p / "initdb").is_file()),
                   key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0)
    if found:
        return found[-1]
    on_path = shutil.which("initdb")
    if on_path:
        return Path(on_path).parent
    raise PostgresUnavailable("PostgreSQL server binaries not found (install Debian's `postgresql`: make test-deps)")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _as_server_user() -> list[str]:
    if os.geteuid() != 0:
        return []
    runuser = shutil.which("runuser")
    if runuser is None:
        raise PostgresUnavailable("running as root and `runuser` is missing, so PostgreSQL cannot be started")
    try:
        import pwd

        pwd.getpwnam("postgres")
    except KeyError as e:
        raise PostgresUnavailable("running as root and there is no `postgres` user to run the server") from e
    return [runuser, "-u", "postgres", "--"]


def _wait_ready(bin_dir: Path, prefix: list[str], port: int, server: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + _START_TIMEOUT
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise PostgresUnavailable(f"postgres exited at start: {log.read_text(errors='replace')[-500:]}")
        ready = subprocess.run([*prefix, str(bin_dir / "pg_isready"), "-h", "127.0.0.1", "-p", str(port), "-q"],
                               check=False)
        if ready.returncode == 0:
            return
        time.sleep(0.2)
    raise PostgresUnavailable(f"postgres did not accept connections within {_START_TIMEOUT:.0f} s")


@contextlib.contextmanager
def throwaway_server(settings: dict[str, str] | None = None) -> Iterator[str]:
    """Start a fresh cluster; yield its URL (database `provenance`); stop and delete it afterwards.

    `settings` are server parameters (`-c name=value`), e.g. {"shared_buffers": "1GB"} for a benchmark.
    """
    bin_dir = binaries()
    prefix = _as_server_user()
    with tempfile.TemporaryDirectory(prefix="provenance-pg-") as tmp:
        root = Path(tmp)
        data = root / "data"
        log = root / "server.log"
        if prefix:
            shutil.chown(root, "postgres", "postgres")
        try:
            subprocess.run([*prefix, str(bin_dir / "initdb"), "-D", str(data), "-U", "provenance",
                            "--auth=trust", "--encoding=UTF8", "--locale=C.UTF-8", "--no-sync"],
                           check=True, capture_output=True)
        except subprocess.CalledProcessError as e:
            raise PostgresUnavailable(f"initdb failed: {e.stderr.decode(errors='replace')[-500:]}") from e
        port = _free_port()
        with open(log, "wb") as log_file:
            # Loopback only; the socket folder is ours, and fsync is off: the data is thrown away.
            server = subprocess.Popen(
                [*prefix, str(bin_dir / "postgres"), "-D", str(data), "-h", "127.0.0.1", "-p", str(port),
                 "-k", str(root), "-c", "fsync=off", "-c", "synchronous_commit=off",
                 "-c", "full_page_writes=off", *(f"-c{name}={value}" for name, value in (settings or {}).items())],
                stdout=log_file, stderr=subprocess.STDOUT)
        try:
            _wait_ready(bin_dir, prefix, port, server, log)
            subprocess.run([*prefix, str(bin_dir / "createdb"), "-h", "127.0.0.1", "-p", str(port),
                            "-U", "provenance", "provenance"], check=True, capture_output=True)
            yield f"postgresql://provenance@127.0.0.1:{port}/provenance"
        finally:
            # "fast" shutdown: ends open sessions instead of waiting for them.
            subprocess.run([*prefix, str(bin_dir / "pg_ctl"), "stop", "-D", str(data), "-m", "fast", "-w"],
                           check=False, capture_output=True)
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
