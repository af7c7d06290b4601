"""A DATABASE_URL written in libpq's spelling (`?sslmode=verify-full&sslrootcert=...`) makes every
connection of ours speak TLS to PostgreSQL, checked as libpq would check it: the services' engines,
the plain asyncpg connections (the relay's LISTEN, rebuilds, database creation) and migrations. A
PostgreSQL of this module's own, with `ssl=on` and a certificate from a CA the test makes."""

from __future__ import annotations

import os
import ssl
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from supportdesk_devstack.cli import BIN
from supportdesk_devstack.postgres import PostgresServer, tls_capable_bin_dir
from supportdesk_devstack.process import free_port
from supportdesk_devstack.testing.tls import server_certificates
from supportdesk_messaging.db import DatabaseTlsError, connect, create_engine, drop_database, ensure_database, tls_for

pytestmark = pytest.mark.integration

HOST = "127.0.0.1"
ENCRYPTED = "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()"


class TlsServer:
    def __init__(self, server: PostgresServer, ca_file: Path, stranger_ca: Path) -> None:
        self.server, self.ca_file, self.stranger_ca = server, ca_file, stranger_ca

    def url(self, query: str = "") -> str:
        base = f"postgresql://postgres@{HOST}:{self.server.port}/postgres"
        return f"{base}?{query}" if query else base


@pytest.fixture(scope="module")
def tls_server() -> Iterator[TlsServer]:
    # Not under pytest's basetemp, as the session's servers: PostgreSQL's own user must reach it.
    with tempfile.TemporaryDirectory(prefix="supportdesk-tls-postgres-") as data_dir:
        yield from _tls_server(Path(data_dir))


def _tls_server(home: Path) -> Iterator[TlsServer]:
    ca_file, server_pem = server_certificates(home / "tls", HOST)
    # A CA that signed nothing this server holds: what a client that trusts the wrong CA has.
    stranger_ca, _ = server_certificates(home / "stranger", HOST)
    bin_dir = tls_capable_bin_dir()
    if bin_dir is None:
        pytest.skip("no PostgreSQL built with OpenSSL here (pg_config on PATH); the embedded one has no TLS")
    server = PostgresServer(home, HOST, free_port(), durable=False, server_pem=server_pem, bin_dir=bin_dir)
    server.start()
    yield TlsServer(server, ca_file, stranger_ca)
    server.stop()


async def encrypted_by_engine(url: str) -> bool:
    database = f"tls_{uuid.uuid4().hex[:8]}"
    await ensure_database(url, database)
    engine = create_engine(url, database)
    try:
        async with engine.connect() as conn:
            return bool((await conn.execute(text(ENCRYPTED))).scalar())
    finally:
        await engine.dispose()
        await drop_database(url, database)


async def encrypted_by_asyncpg(url: str) -> bool:
    conn = await connect(url)
    try:
        return bool(await conn.fetchval(ENCRYPTED))
    finally:
        await conn.close()


@pytest.mark.parametrize("check", [encrypted_by_engine, encrypted_by_asyncpg], ids=["engine", "asyncpg"])
async def test_libpq_sslmode_decides_whether_connections_are_encrypted(tls_server: TlsServer, check: object) -> None:
    assert callable(check)
    assert await check(tls_server.url("sslmode=require")) is True
    assert await check(tls_server.url(f"sslmode=verify-ca&sslrootcert={tls_server.ca_file}")) is True
    assert await check(tls_server.url(f"sslmode=verify-full&sslrootcert={tls_server.ca_file}")) is True
    assert await check(tls_server.url("sslmode=disable")) is False


@pytest.mark.parametrize("check", [encrypted_by_engine, encrypted_by_asyncpg], ids=["engine", "asyncpg"])
async def test_verify_full_refuses_a_server_it_cannot_verify(tls_server: TlsServer, check: object) -> None:
    assert callable(check)
    # require encrypts without checking whom it talks to (libpq's meaning) ...
    assert await check(tls_server.url("sslmode=require")) is True
    # ... verify-full does not connect to a server whose certificate the given CA did not sign.
    with pytest.raises(ssl.SSLCertVerificationError):
        await check(tls_server.url(f"sslmode=verify-full&sslrootcert={tls_server.stranger_ca}"))
    # Nor with the system's CAs (no sslrootcert), which never signed the test's CA.
    with pytest.raises(ssl.SSLCertVerificationError):
        await check(tls_server.url("sslmode=verify-full"))


def test_migrations_use_the_same_tls(tls_server: TlsServer) -> None:
    def migrate(url: str) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "DATABASE_URL": url, "TRIAGE_DATABASE_NAME": f"tls_{uuid.uuid4().hex[:8]}"}
        return subprocess.run([str(BIN / "triage"), "migrate"], env=env, capture_output=True, text=True, timeout=120)

    refused = migrate(tls_server.url(f"sslmode=verify-full&sslrootcert={tls_server.stranger_ca}"))
    assert refused.returncode != 0 and "CERTIFICATE_VERIFY_FAILED" in refused.stderr, refused.stderr[-2000:]
    done = migrate(tls_server.url(f"sslmode=verify-full&sslrootcert={tls_server.ca_file}"))
    assert done.returncode == 0, done.stderr[-2000:]


@pytest.mark.parametrize(
    ("query", "named"),
    [
        ({"sslmode": "verify-everything"}, "sslmode"),
        ({"sslmode": "verify-full", "sslrootcert": "/nonexistent/ca.pem"}, "No such file"),
    ],
)
def test_a_tls_parameter_that_makes_no_sense_stops_at_once(query: dict[str, str], named: str) -> None:
    with pytest.raises((DatabaseTlsError, OSError), match=named):
        tls_for(query)
