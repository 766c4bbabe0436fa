"""
Benchmarks of activation-plugin on MariaDB (``make bench``).

``bootstrap()`` must run before any model is imported: it points Django at a database of its own,
so a benchmark can never touch the demo's or the tests' data, and it can be dropped afterwards.
"""
import logging
import os
import sys

# Dropped and recreated by every run; ACTIVATION_BENCH_DB lets two benchmarks run side by side.
DATABASE = os.environ.get("ACTIVATION_BENCH_DB", "activation_bench")


def _server():
    """MySQLdb connection arguments, from the same environment variables as ``demo.settings``."""
    return {
        "host": os.environ.get("DEMO_DB_HOST", "127.0.0.1"),
        "port": int(os.environ.get("DEMO_DB_PORT", "3306")),
        "user": os.environ.get("DEMO_DB_USER", "root"),
        "password": os.environ.get("DEMO_DB_PASSWORD", ""),
    }


def _run_on_server(sql):
    """A statement outside any database: Django cannot connect to a database that does not exist yet."""
    import MySQLdb  # pylint: disable=import-outside-toplevel

    connection = MySQLdb.connect(**_server())
    try:
        connection.cursor().execute(sql)
    finally:
        connection.close()


def bootstrap():
    """Create and migrate the benchmark database, then configure Django as production would run the tick."""
    os.environ["DJANGO_SETTINGS_MODULE"] = "demo.settings"
    os.environ["DEMO_DB"] = "mariadb"
    os.environ["DEMO_DB_NAME"] = DATABASE
    # DEBUG would log every query (and its SQL text) and show up in the memory figures.
    os.environ["DEMO_DEBUG"] = "0"
    # Fresh every run: a database left by an interrupted run may hold an older schema.
    _run_on_server(f"DROP DATABASE IF EXISTS {DATABASE}")
    _run_on_server(f"CREATE DATABASE {DATABASE} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")

    import django  # pylint: disable=import-outside-toplevel
    from django.conf import settings  # pylint: disable=import-outside-toplevel
    from django.core.management import call_command  # pylint: disable=import-outside-toplevel

    django.setup()
    # The demo logs every tracking event to the console; the events are still built and emitted.
    logging.getLogger("tracking").setLevel(logging.WARNING)
    call_command("migrate", verbosity=0, interactive=False)
    # Builds every message and hands it to a backend that sends nothing: the send path without an outbox.
    settings.EMAIL_BACKEND = "django.core.mail.backends.dummy.EmailBackend"


def drop_database():
    """Leave nothing behind: the seeded rows go with the database."""
    from django.db import connections  # pylint: disable=import-outside-toplevel

    connections.close_all()
    _run_on_server(f"DROP DATABASE IF EXISTS {DATABASE}")


def log(text):
    """Progress on stderr, so that stdout carries only the benchmarks' tables."""
    print(text, file=sys.stderr, flush=True)


def execute(sql, params=()):
    """One raw statement (seeding in SQL is what makes millions of rows affordable); its row count."""
    from django.db import connection  # pylint: disable=import-outside-toplevel

    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount
