"""The chart's database settings, offline and against a real PostgreSQL: placeholders and secrets in
values refused at render time; with `database.perServiceRoles` each pod's DATABASE_URL names its own
role and database (with libpq's TLS parameters); the roles Job's script, run with `psql` on the
session's PostgreSQL, lets each role connect to its own database and to no other service's.
Nothing here installs the chart on a cluster."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import kubernetes_validate
import pytest
import yaml
from sqlalchemy.engine import make_url

from supportdesk_devstack.postgres import PostgresServer
from supportdesk_devstack.process import free_port

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "deploy" / "helm" / "supportdesk"
SERVICES = sorted(p.parent.name for p in (REPO / "services").glob("*/pyproject.toml"))
KUBERNETES = "1.33"
CRDS = {("keda.sh/v1alpha1", "ScaledObject"), ("monitoring.coreos.com/v1", "ServiceMonitor")}
ROLES = [
    "--set",
    "database.perServiceRoles=true",
    "--set",
    "database.createRoles=true",
    "--set",
    "database.adminSecret=pg-admin",
    "--set",
    "database.sslmode=verify-full",
    "--set",
    "database.caSecret=pg-ca",
]


def helm() -> str:
    found = shutil.which("helm") or str(Path.home() / "go" / "bin" / "helm")
    assert os.access(found, os.X_OK), "helm is missing: `make setup-test` installs it with go install"
    return found


def template(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([helm(), "template", "desk", str(CHART), *args], capture_output=True, text=True, timeout=120)


def rendered(*args: str) -> list[dict[str, Any]]:
    done = template(*args)
    assert done.returncode == 0, done.stderr
    return [d for d in yaml.safe_load_all(done.stdout) if d]


@pytest.mark.parametrize(
    ("value", "named"),
    [
        (
            "services.notifier.env.NOTIFIER_SMTP_HOST=change-me.example",
            "services.notifier.env.NOTIFIER_SMTP_HOST holds a placeholder",
        ),
        ("config.LOG_LEVEL=CHANGE-ME", "config.LOG_LEVEL holds a placeholder"),
        ("config.INTAKE_API_KEYS=ann=k3y", "config.INTAKE_API_KEYS looks like a secret"),
        ("services.notifier.env.NOTIFIER_SMTP_PASSWORD=hunter2", "NOTIFIER_SMTP_PASSWORD looks like a secret"),
        ("config.DATABASE_URL=postgresql://board:pw@db/x", "config.DATABASE_URL carries a password"),
    ],
)
def test_the_chart_refuses_placeholders_and_secrets_in_values(value: str, named: str) -> None:
    done = template("--set-string", value)
    assert done.returncode != 0 and named in done.stderr, done.stderr


def test_roles_need_an_admin_secret() -> None:
    done = template("--set", "database.perServiceRoles=true", "--set", "database.createRoles=true")
    assert done.returncode != 0 and "database.adminSecret" in done.stderr, done.stderr


def _env(container: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container.get("env", [])}


def test_each_pod_connects_as_its_own_role_to_its_own_database_over_verified_tls() -> None:
    docs = rendered(*ROLES)
    for doc in docs:
        if (doc["apiVersion"], doc["kind"]) not in CRDS:
            kubernetes_validate.validate(doc, KUBERNETES, strict=True)
    deployments = {d["metadata"]["labels"]["app.kubernetes.io/name"]: d for d in docs if d["kind"] == "Deployment"}
    [migrate] = [d for d in docs if d["kind"] == "Job" and d["metadata"]["name"].endswith("-migrate")]
    inits = {c["name"].removeprefix("migrate-"): c for c in migrate["spec"]["template"]["spec"]["initContainers"]}
    for service in SERVICES:
        role = "supportdesk_" + service.replace("-", "_")
        expected = (
            f"postgresql://{role}@postgres:5432/{role}"
            "?sslmode=verify-full&sslrootcert=/etc/supportdesk/postgres-ca/ca.pem"
        )
        prefix = service.replace("-", "_").upper()
        for container in (deployments[service]["spec"]["template"]["spec"]["containers"][0], inits[service]):
            env = _env(container)
            assert env["DATABASE_URL"] == expected and env[f"{prefix}_DATABASE_NAME"] == role, container["name"]
            mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
            assert mounts["postgres-ca"] == "/etc/supportdesk/postgres-ca"
    [roles] = [d for d in docs if d["kind"] == "Job" and d["metadata"]["name"].endswith("-database-roles")]
    assert roles["metadata"]["annotations"]["helm.sh/hook-weight"] == "-5"  # before the migrations (0)
    env = _env(roles["spec"]["template"]["spec"]["containers"][0])
    assert env["ADMIN_DATABASE_URL"] == {"secretKeyRef": {"name": "pg-admin", "key": "DATABASE_URL"}}
    for service in SERVICES:
        # Each role's password from its own service's Secret.
        key = {"secretKeyRef": {"name": f"supportdesk-{service}", "key": "PGPASSWORD"}}
        assert env[f"PGPASSWORD_{service.replace('-', '_').upper()}"] == key


@pytest.fixture(scope="module")
def postgres() -> Iterator[str]:
    """A PostgreSQL of this module's own (roles belong to a whole server, not to one database)."""
    # Not under pytest's basetemp, as the session's servers: PostgreSQL's own user must reach it.
    with tempfile.TemporaryDirectory(prefix="supportdesk-roles-") as data_dir:
        server = PostgresServer(Path(data_dir), "127.0.0.1", free_port(), durable=False)
        server.start()
        try:
            yield f"postgresql://postgres@127.0.0.1:{server.port}/postgres"
        finally:
            server.stop()


@pytest.mark.integration
async def test_the_roles_script_lets_each_role_into_its_own_database_only(postgres: str) -> None:
    psql = shutil.which("psql")
    if psql is None:
        pytest.skip("no psql on PATH to run the chart's script with")
    prefix = "supportdesk_"
    docs = rendered(*ROLES)
    [script] = [d["data"]["roles.sql"] for d in docs if d["kind"] == "ConfigMap" and "roles.sql" in d.get("data", {})]
    admin = postgres
    passwords = {f"PGPASSWORD_{s.replace('-', '_').upper()}": uuid.uuid4().hex for s in SERVICES}
    for _ in range(2):  # idempotent: a second run (every upgrade) passes too
        done = await asyncio.to_thread(
            subprocess.run,
            [psql, admin, "--no-psqlrc", "-v", "ON_ERROR_STOP=1", "-f", "-"],
            input=script,
            env={**os.environ, **passwords},
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
    server = make_url(postgres)

    async def connects(role: str, database: str) -> bool:
        try:
            conn = await asyncpg.connect(host=server.host, port=server.port, user=role, database=database)
        except asyncpg.InsufficientPrivilegeError:
            return False
        await conn.execute("CREATE TABLE IF NOT EXISTS mine (x int)")  # it owns what it makes there
        await conn.close()
        return True

    board, intake = f"{prefix}board", f"{prefix}intake"
    assert await connects(board, board)
    assert not await connects(board, intake)
    assert not await connects(intake, board)
    assert await connects(intake, intake)
    # No role may do more than log in: no superuser, no creating databases or roles.
    conn = await asyncpg.connect(admin)
    try:
        rows = await conn.fetch(
            "SELECT rolname, rolsuper, rolcreatedb, rolcreaterole FROM pg_roles WHERE rolname LIKE $1", prefix + "%"
        )
    finally:
        await conn.close()
    assert len(rows) == len(SERVICES)
    assert not any(r["rolsuper"] or r["rolcreatedb"] or r["rolcreaterole"] for r in rows)
