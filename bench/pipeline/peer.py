"""django-helpdesk as a peer in the intake comparison: its virtualenv, a minimal Django project
around it on the bench's PostgreSQL, gunicorn, and its public ticket form as a contender."""

from __future__ import annotations

import asyncio
import html
import os
import re
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path

import httpx
from sqlalchemy import text

from supportdesk_devstack.process import ManagedProcess, wait_until
from supportdesk_devstack.testing import Sandbox, free_port
from supportdesk_messaging.db import create_engine, ensure_database, service_url

from .contenders import Contender, Prepare, Submit
from .cpu import tree_cpu

# django-helpdesk, the Python peer a team would otherwise pick: its own virtualenv under .data/
# (never a dependency of ours), pinned so that figures from different runs compare.
PEER_PINS = ("django-helpdesk==2.6.1", "Django==5.2.19", "gunicorn==27.0.1", "psycopg[binary]==3.3.9")

PEER_SETTINGS = textwrap.dedent(
    """
    # A minimal project around django-helpdesk, as its install docs describe, on the bench's PostgreSQL.
    import os

    SECRET_KEY = "bench-only"
    DEBUG = False
    ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
    INSTALLED_APPS = [
        "django.contrib.admin",
        "django.contrib.auth",
        "django.contrib.contenttypes",
        "django.contrib.sessions",
        "django.contrib.messages",
        "django.contrib.staticfiles",
        "django.contrib.sites",
        "django.contrib.humanize",
        "rest_framework",
        "helpdesk",
    ]
    MIDDLEWARE = [
        "django.middleware.security.SecurityMiddleware",
        "django.contrib.sessions.middleware.SessionMiddleware",
        "django.middleware.common.CommonMiddleware",
        "django.middleware.csrf.CsrfViewMiddleware",
        "django.contrib.auth.middleware.AuthenticationMiddleware",
        "django.contrib.messages.middleware.MessageMiddleware",
        "django.middleware.clickjacking.XFrameOptionsMiddleware",
    ]
    ROOT_URLCONF = "benchdesk.urls"
    TEMPLATES = [
        {
            "BACKEND": "django.template.backends.django.DjangoTemplates",
            "APP_DIRS": True,
            "OPTIONS": {
                "context_processors": [
                    "django.template.context_processors.request",
                    "django.contrib.auth.context_processors.auth",
                    "django.contrib.messages.context_processors.messages",
                ]
            },
        }
    ]
    WSGI_APPLICATION = "benchdesk.wsgi.application"
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": os.environ["PEER_DB_NAME"],
            "USER": os.environ["PEER_DB_USER"],
            "PASSWORD": os.environ["PEER_DB_PASSWORD"],
            "HOST": os.environ["PEER_DB_HOST"],
            "PORT": os.environ["PEER_DB_PORT"],
            "CONN_MAX_AGE": 60,  # persistent connections, as a deployment would (intake keeps a pool)
        }
    }
    SITE_ID = 1
    USE_TZ = True
    TIME_ZONE = "UTC"
    STATIC_URL = "/static/"
    MEDIA_ROOT = os.environ["PEER_MEDIA"]
    DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
    LOGIN_URL = "helpdesk:login"
    HELPDESK_TEAMS_MODE_ENABLED = False
    HELPDESK_PUBLIC_ENABLED = True
    HELPDESK_SUBMIT_A_TICKET_PUBLIC = True
    # The acknowledgement mail is rendered in the request as usual; only the SMTP hand-off is left
    # out (intake sends no mail in the request either: the notifier does, later).
    EMAIL_BACKEND = "django.core.mail.backends.dummy.EmailBackend"
    DEFAULT_FROM_EMAIL = "helpdesk@example.com"
    """
)

PEER_URLS = textwrap.dedent(
    """
    from django.contrib import admin
    from django.urls import include, path

    urlpatterns = [path("admin/", admin.site.urls), path("helpdesk/", include("helpdesk.urls"))]
    """
)

PEER_WSGI = textwrap.dedent(
    """
    import os

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "benchdesk.settings")
    from django.core.wsgi import get_wsgi_application

    application = get_wsgi_application()
    """
)

PEER_PREPARE = textwrap.dedent(
    """
    # Migrate, then the public queue web tickets are filed in; prints its id.
    import os

    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "benchdesk.settings")
    django.setup()
    from django.core.management import call_command
    from helpdesk.models import Queue

    call_command("migrate", interactive=False, verbosity=0)
    queue, _ = Queue.objects.get_or_create(
        slug="bench", defaults={"title": "Bench", "allow_public_submission": True}
    )
    print(queue.id)
    """
)

CSRF_FIELD = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


def peer_venv(cache_dir: Path) -> Path:
    """The peer's virtualenv, made once and kept while the pins are the same."""
    venv = cache_dir / "peers" / "django-helpdesk" / "venv"
    stamp = venv / "bench-pins.txt"
    wanted = "\n".join(PEER_PINS) + "\n"
    if stamp.is_file() and stamp.read_text() == wanted:
        return venv
    print(f"django-helpdesk: making its virtualenv in {venv} (once) ...", flush=True)
    for cmd in (
        [sys.executable, "-m", "venv", "--clear", str(venv)],
        [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", *PEER_PINS],
    ):
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode != 0:
            tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-15:])
            raise SystemExit(
                f"django-helpdesk could not be installed: `{' '.join(cmd)}` exited {done.returncode}:\n{tail}"
            )
    stamp.write_text(wanted)
    return venv


def helpdesk_form(queue_id: int) -> Prepare:
    """django-helpdesk's public ticket form (`/helpdesk/tickets/submit/`, what its home page and
    "Submit a Ticket" link show a customer): load the form once for the CSRF cookie and token, as
    a browser does, then each ticket is one form POST, answered by a 302 to the ticket's public page
    (not followed). CsrfViewMiddleware checks the token on every POST."""

    async def prepare(client: httpx.AsyncClient) -> Submit:
        page = await client.get("/helpdesk/tickets/submit/")
        page.raise_for_status()
        found = CSRF_FIELD.search(page.text)
        assert found is not None and "csrftoken" in client.cookies, "no CSRF token on the form"
        token = html.unescape(found.group(1))

        async def submit(i: int) -> None:
            form = {
                "csrfmiddlewaretoken": token,
                "queue": str(queue_id),
                "title": f"Bench {i}",
                "body": "load",
                "priority": "3",
                "due_date": "",
                "submitter_email": f"c{i}@customer.example",
            }
            r = await client.post("/helpdesk/tickets/submit/", data=form)
            assert r.status_code == 302 and "ticket=" in r.headers.get("location", ""), (r.status_code, r.text[:500])

        return submit

    return prepare


@contextmanager
def django_helpdesk(space: Sandbox, work: Path, cache_dir: Path) -> Iterator[Contender]:
    """django-helpdesk under gunicorn (2 sync workers, its default worker class) on a database of
    its own on the bench's PostgreSQL."""
    venv = peer_venv(cache_dir)
    database = space.database("helpdesk")
    asyncio.run(ensure_database(space.servers.database_url, database))
    url = service_url(space.servers.database_url, database)
    home = work / "django-helpdesk"
    (home / "benchdesk").mkdir(parents=True)
    (home / "media").mkdir()
    for name, body in (("__init__.py", ""), ("settings.py", PEER_SETTINGS), ("urls.py", PEER_URLS)):
        (home / "benchdesk" / name).write_text(body)
    (home / "benchdesk" / "wsgi.py").write_text(PEER_WSGI)
    (home / "prepare.py").write_text(PEER_PREPARE)
    env = {
        **os.environ,
        "PYTHONPATH": str(home),
        "PEER_DB_NAME": database,
        "PEER_DB_USER": url.username or "",
        "PEER_DB_PASSWORD": url.password or "",
        "PEER_DB_HOST": url.host or "127.0.0.1",
        "PEER_DB_PORT": str(url.port or 5432),
        "PEER_MEDIA": str(home / "media"),
    }
    prepared = subprocess.run(
        [str(venv / "bin" / "python"), str(home / "prepare.py")], capture_output=True, text=True, env=env, cwd=home
    )
    if prepared.returncode != 0:
        raise SystemExit(f"django-helpdesk: migrate failed:\n{prepared.stdout}{prepared.stderr}")
    queue_id = int(prepared.stdout.strip().splitlines()[-1])
    port = free_port()
    argv = [str(venv / "bin" / "gunicorn"), "--workers", "2", "--bind", f"127.0.0.1:{port}", "--log-level", "warning"]
    proc = ManagedProcess(
        "django-helpdesk",
        [*argv, "benchdesk.wsgi:application"],
        work / "django-helpdesk.log",
        env={k: v for k, v in env.items() if k.startswith("PEER_") or k == "PYTHONPATH"},
        cwd=home,
    )
    base = f"http://127.0.0.1:{port}"

    def form_answers() -> bool:
        try:
            return httpx.get(base + "/helpdesk/tickets/submit/", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    engine_url = space.servers.database_url

    def stored() -> int:
        async def count() -> int:
            engine = create_engine(engine_url, database)
            try:
                async with engine.connect() as conn:
                    return int((await conn.execute(text("SELECT count(*) FROM helpdesk_ticket"))).scalar_one())
            finally:
                await engine.dispose()

        return asyncio.run(count())

    try:
        wait_until(form_answers, timeout=60, what="django-helpdesk", alive=proc.alive, log=proc.log)
        # CSRF is really checked: the same form without the cookie and token is refused.
        bare = httpx.post(base + "/helpdesk/tickets/submit/", data={"queue": str(queue_id), "title": "t"}, timeout=10)
        assert bare.status_code == 403, f"django-helpdesk took a form without its CSRF token: {bare.status_code}"
        cpu = partial(tree_cpu, proc.proc.pid)
        yield Contender("django-helpdesk", base, cpu, helpdesk_form(queue_id), stored)
    finally:
        proc.stop()
