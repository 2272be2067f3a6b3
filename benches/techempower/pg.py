"""A throwaway PostgreSQL with the TechEmpower schema and data, for the verifier and the benches.

```python
with Postgres(cpus="1") as pg:      # initdb in a temp dir, start, load, wait ready
    run_app(env={"DATABASE_URL": pg.dsn})
# stopped (fast shutdown) and its directory removed, even on error
```

The server is the distribution's PostgreSQL 15 (`make services` installs it), run straight from
its binaries in a `tempfile.mkdtemp()` directory on a free loopback port; nothing system-wide is
touched. PostgreSQL refuses to run as root, and CI (like the bench VM) runs as root: then every
PostgreSQL program runs as the `postgres` user the Debian package creates, by `Popen(user=...)`
rather than `runuser`, so the PID we hold is the postmaster's own and a signal reaches it directly.

Only the standard library is used: the peers' virtualenvs can import this file too.
`python -m benches.techempower.pg` starts one and prints its DSN until Ctrl-C.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import Any

__all__ = ["FORTUNES", "Postgres", "find_binaries"]

DEBIAN_BIN = Path("/usr/lib/postgresql/15/bin")
START_TIMEOUT = 60.0

# The twelve rows of TFB's `Fortune` table, verbatim: the <script> one checks escaping, the
# Japanese one UTF-8 end to end, the em dashes a non-ASCII character inside Latin text.
FORTUNES: tuple[tuple[int, str], ...] = (
    (1, "fortune: No such file or directory"),
    (2, "A computer scientist is someone who fixes things that aren't broken."),
    (3, "After enough decimal places, nobody gives a damn."),
    (4, "A bad random number generator: 1, 1, 1, 1, 1, 4.33e+67, 1, 1, 1"),
    (5, "A computer program does what you tell it to do, not what you want it to do."),
    (6, "Emacs is a nice operating system, but I prefer UNIX. \u2014 Tom Christaensen"),
    (7, "Any program that runs right is obsolete."),
    (8, "A list is only as strong as its weakest link. \u2014 Donald Knuth"),
    (9, "Feature: A bug with seniority."),
    (10, "Computers make very fast, very accurate mistakes."),
    (11, '<script>alert("This should not be displayed in a browser alert box.");</script>'),
    (12, "\u30d5\u30ec\u30fc\u30e0\u30ef\u30fc\u30af\u306e\u30d9\u30f3\u30c1\u30de\u30fc\u30af"),
)

# Server settings, passed as `-c` flags so `ps` shows what ran. Why each differs from the default:
SETTINGS: dict[str, str] = {
    # Enough for every framework's pool at once (TFB's own server allows 2000); a connection
    # costs shared memory only in proportion, a few MB at this size.
    "max_connections": "512",
    # The whole data set is about 1 MB: a modest pool holds it with room to spare, and a small
    # one starts on CI runners with little memory.
    "shared_buffers": "128MB",
    # TFB's setting: an UPDATE's commit does not wait for its WAL flush. The data is thrown
    # away afterwards, so fsync and full-page writes go too: the shared VM's disk stays out of
    # the update test's numbers.
    "synchronous_commit": "off",
    "fsync": "off",
    "full_page_writes": "off",
    # One-row queries: parallel workers and the JIT only add start-up cost (and parallel
    # workers want /dev/shm, which containers keep small).
    "max_parallel_workers_per_gather": "0",
    "jit": "off",
}

SCHEMA = """
-- TFB's schema; unquoted names fold to lower case (world.randomnumber), as in TFB.
CREATE TABLE World (
    id integer NOT NULL PRIMARY KEY,
    randomNumber integer NOT NULL DEFAULT 0
);
CREATE TABLE CachedWorld (
    id integer NOT NULL PRIMARY KEY,
    randomNumber integer NOT NULL DEFAULT 0
);
CREATE TABLE Fortune (
    id integer NOT NULL PRIMARY KEY,
    message varchar(2048) NOT NULL
);
-- A fixed seed: every run starts from the same random numbers.
SELECT setseed(0.2026);
INSERT INTO World (id, randomNumber)
    SELECT x, least(floor(random() * 10000 + 1), 10000) FROM generate_series(1, 10000) AS x;
INSERT INTO CachedWorld (id, randomNumber)
    SELECT x, least(floor(random() * 10000 + 1), 10000) FROM generate_series(1, 10000) AS x;
"""


def find_binaries() -> Path:
    """The directory holding `initdb` and `postgres`: Debian's PostgreSQL 15, else whichever
    `initdb` is on PATH; raises FileNotFoundError saying what to install otherwise."""
    if (DEBIAN_BIN / "initdb").is_file():
        return DEBIAN_BIN
    initdb = shutil.which("initdb")
    if initdb is not None:
        return Path(initdb).resolve().parent
    raise FileNotFoundError(
        "PostgreSQL not found (no /usr/lib/postgresql/15/bin/initdb, no initdb on PATH): "
        "`make services` or `apt-get install postgresql-15` installs it"
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _sql_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


class Postgres:
    """One PostgreSQL server with TFB's `hello_world` database, owned by this object."""

    user = "benchmarkdbuser"
    password = "benchmarkdbpass"
    database = "hello_world"
    host = "127.0.0.1"

    def __init__(self, *, port: int | None = None, cpus: str | None = None) -> None:
        """`port` defaults to a free one; `cpus` (a taskset list, "1" or "2-3") pins the
        server, so a bench can keep it off the cores the framework under test runs on."""
        self.port = port if port is not None else _free_port()
        self.cpus = cpus
        self.bin_dir = find_binaries()
        self.dir: Path | None = None
        self.proc: subprocess.Popen[bytes] | None = None
        self._as_postgres = os.geteuid() == 0

    @property
    def dsn(self) -> str:
        """The libpq URL asyncpg and psycopg both accept."""
        return f"postgresql://{self.user}:{self.password}@{self.host}:{self.port}/{self.database}"

    @property
    def socket_dir(self) -> Path:
        """Where the Unix socket `.s.PGSQL.<port>` lives (for clients that prefer it)."""
        if self.dir is None:
            raise RuntimeError("Postgres is not started")
        return self.dir

    @property
    def log(self) -> str:
        """What the server wrote so far."""
        path = self.dir / "postgres.log" if self.dir is not None else None
        return path.read_text(errors="replace") if path and path.exists() else ""

    def start(self) -> Postgres:
        """initdb, start, load the schema and data; returns once clients can connect. On
        failure the server is stopped and the directory removed before the error propagates."""
        if self.proc is not None:
            raise RuntimeError("Postgres is already started")
        self.dir = Path(tempfile.mkdtemp(prefix="covetpy-pg-"))
        atexit.register(self.stop)
        try:
            self._init()
            self._launch()
            self._load()
        except BaseException:
            self.stop()
            raise
        return self

    def _run(self, argv: list[str], *, stdin: str | None = None) -> None:
        """Runs one PostgreSQL program to completion (as `postgres` when we are root)."""
        done = subprocess.run(
            argv,
            input=stdin.encode() if stdin is not None else None,
            capture_output=True,
            cwd=self.dir,
            **self._identity(),
        )
        if done.returncode != 0:
            out = (done.stdout + done.stderr).decode(errors="replace")
            raise RuntimeError(f"{Path(argv[0]).name} exited {done.returncode}:\n{out}")

    def _identity(self) -> dict[str, Any]:
        if not self._as_postgres:
            return {}
        return {"user": "postgres", "group": "postgres", "extra_groups": []}

    def _init(self) -> None:
        assert self.dir is not None
        if self._as_postgres:
            try:
                account = pwd.getpwnam("postgres")
            except KeyError:
                raise RuntimeError(
                    "running as root needs the `postgres` user the Debian package creates "
                    "(`apt-get install postgresql-15`)"
                ) from None
            os.chown(self.dir, account.pw_uid, account.pw_gid)
        # The data directory inside stays 0700 (PostgreSQL insists); this one holds the socket
        # and the log, and other users' clients may want the socket.
        self.dir.chmod(0o755)
        self._run(
            [
                str(self.bin_dir / "initdb"),
                "--pgdata",
                str(self.dir / "data"),
                "--username=postgres",
                # Over the socket, trust (only the harness uses it, to load the data); over TCP,
                # a password as TFB's clients give one.
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
                "--encoding=UTF8",
                "--no-locale",
                "--no-sync",
            ]
        )

    def _launch(self) -> None:
        assert self.dir is not None
        argv = [str(self.bin_dir / "postgres"), "-D", str(self.dir / "data")]
        settings = {
            "listen_addresses": self.host,
            "port": str(self.port),
            "unix_socket_directories": str(self.dir),
            **SETTINGS,
        }
        for name, value in settings.items():
            argv += ["-c", f"{name}={value}"]
        if self.cpus is not None:
            # taskset execs: the PID stays the postmaster's, and every backend it forks
            # inherits the mask.
            argv = ["taskset", "-c", self.cpus, *argv]
        with open(self.dir / "postgres.log", "ab") as log:
            self.proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.dir,
                **self._identity(),
            )
        self._wait_ready()

    def _wait_ready(self) -> None:
        # The postmaster writes "ready" as the 8th line of postmaster.pid once it accepts
        # connections (what `pg_ctl -w` waits for).
        assert self.dir is not None and self.proc is not None
        pid_file = self.dir / "data" / "postmaster.pid"
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            with contextlib.suppress(OSError):
                lines = pid_file.read_text().splitlines()
                if len(lines) >= 8 and lines[7].strip() == "ready":
                    return
            if self.proc.poll() is not None:
                raise RuntimeError(f"postgres exited {self.proc.returncode}:\n{self.log}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"postgres not ready in {START_TIMEOUT}s:\n{self.log}")
            time.sleep(0.02)

    def _load(self) -> None:
        assert self.dir is not None
        fortunes = ",\n".join(f"    ({i}, {_sql_literal(m)})" for i, m in FORTUNES)
        script = "\n".join(
            [
                f"CREATE ROLE {self.user} LOGIN PASSWORD {_sql_literal(self.password)};",
                f"CREATE DATABASE {self.database} OWNER {self.user}"
                " ENCODING 'UTF8' TEMPLATE template0;",
                f"\\connect {self.database} {self.user}",
                SCHEMA,
                f"INSERT INTO Fortune (id, message) VALUES\n{fortunes};",
                "VACUUM ANALYZE;",
            ]
        )
        psql = str(self.bin_dir / "psql")
        socket_args = ["-h", str(self.dir), "-p", str(self.port), "-U", "postgres"]
        self._run(
            [psql, "-X", "-q", "-v", "ON_ERROR_STOP=1", *socket_args, "-d", "postgres"],
            stdin=script,
        )

    def stop(self) -> None:
        """Fast shutdown (SIGINT: open sessions are rolled back), then the directory goes.
        Safe to call twice, and called at interpreter exit if the caller forgot."""
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        path, self.dir = self.dir, None
        if path is not None:
            shutil.rmtree(path, ignore_errors=True)
        atexit.unregister(self.stop)

    def __enter__(self) -> Postgres:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def main() -> None:
    """Starts one server, prints its DSN, and stops it on Ctrl-C or SIGTERM."""
    cpus = sys.argv[1] if len(sys.argv) > 1 else None
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    with Postgres(cpus=cpus) as pg:
        print(pg.dsn, flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            signal.pause()


if __name__ == "__main__":
    main()
