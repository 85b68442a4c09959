"""``python -m bench [SECTION…] [--records N] [--repeat R]``: run the benchmark sections.

The benchmarks run against PostgreSQL only, in their own database (``BENCH_DATABASE_URL``,
default postgres://postgres@127.0.0.1:5432/emporter_bench), created and migrated here when
missing, with production settings (DEBUG off).
"""

import argparse
import importlib
import os
import sys

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/emporter_bench"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("sections", nargs="*", help="sections to run (default: all)")
    parser.add_argument("--records", type=int, default=int(os.environ.get("BENCH_RECORDS", 1_000_000)))
    parser.add_argument("--repeat", type=int, default=int(os.environ.get("BENCH_REPEAT", 30)))
    args = parser.parse_args(argv)

    url = os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL)
    if not url.startswith(("postgres://", "postgresql://")):
        parser.error(f"BENCH_DATABASE_URL must name a PostgreSQL database, not {url!r}")
    _configure(url)
    _ensure_database(url)

    from django.core.management import call_command

    import bench

    call_command("migrate", verbosity=0)
    # Pages name their static files as production does, by the hashes collectstatic writes.
    call_command("collectstatic", interactive=False, verbosity=0)
    for module in bench.SECTION_MODULES:
        importlib.import_module(module)
    unknown = set(args.sections) - set(bench.SECTIONS)
    if unknown:
        parser.error(f"unknown section(s): {', '.join(sorted(unknown))}; known: {', '.join(bench.SECTIONS)}")
    for name in args.sections or list(bench.SECTIONS):
        path = bench.write_results(name, bench.SECTIONS[name](args))
        print(f"→ {path}")
    return 0


def _configure(url: str) -> None:
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "emporter.settings")
    # Measure what production runs: no DEBUG query log, persistent connection.
    os.environ["DEBUG"] = "0"
    os.environ.setdefault("SECRET_KEY", "bench-only")
    os.environ.setdefault("ALLOWED_HOSTS", "localhost")
    os.environ.setdefault("DB_CONN_MAX_AGE", "600")
    os.environ.setdefault("HTTPS", "0")  # its servers are plain HTTP on this machine
    import django

    django.setup()


def _ensure_database(url: str) -> None:
    import psycopg
    from django.db import connection

    name = connection.settings_dict["NAME"]
    params = {
        k: v
        for k, v in connection.get_connection_params().items()
        if k in ("host", "port", "user", "password")
    }
    with psycopg.connect(dbname="postgres", autocommit=True, **params) as admin:
        if not admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            admin.execute(f'CREATE DATABASE "{name}"')
            print(f"created database {name}")
        # As recommended for production (docs/deploy.md): compiling a broad search query
        # just in time costs more than it saves. Applies to the connections opened next.
        admin.execute(f'ALTER DATABASE "{name}" SET jit = off')


if __name__ == "__main__":
    sys.exit(main())
