from __future__ import annotations

import importlib
import json
import os
import random
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"
SEEDS = ROOT / "seeds"
SEED = SEEDS / "000_397f8c2b33c2f7f6.txt"
SEED_CLEAN = SEEDS / "000_397f8c2b33c2f7f6.clean.txt"


def fixture_names() -> list[str]:
    return sorted(p.stem for p in (FIXTURES / "expected").glob("*.json"))


def load_expected(name: str) -> dict:
    return json.loads((FIXTURES / "expected" / f"{name}.json").read_text(encoding="utf-8"))


def fixture_html(name: str) -> bytes:
    return (FIXTURES / "pages" / f"{name}.html").read_bytes()


async def public_resolver(host: str, port: int) -> list[str]:
    """Every test host resolves to a public documentation address."""
    return ["93.184.216.34"]


def compiled_module(name: str) -> Any:
    """The compiled extension ``scraper.<name>``; where it is not built the test is
    skipped, but on CI (which has a compiler) it must be there."""
    try:
        return importlib.import_module(f"scraper.{name}")
    except ImportError:
        if os.environ.get("CI"):
            raise
        pytest.skip(f"scraper.{name} is not built here")


def mutated(text: str, pieces: Sequence[str], rng: random.Random, changes: int = 3) -> str:
    """``text`` with fewer than ``changes`` edits at random places: one of ``pieces``
    put in, or a few characters cut out."""
    chars = list(text)
    for _ in range(rng.randrange(changes)):
        where = rng.randrange(len(chars) + 1)
        if rng.randrange(2):
            chars[where:where] = rng.choice(pieces)
        else:
            del chars[where : where + rng.randrange(1, 6)]
    return "".join(chars)


def printed_with(env: str, code: str) -> str:
    """What ``code`` prints in a new interpreter where ``env`` is set to 1."""
    command = [sys.executable, "-c", code]
    out = subprocess.run(command, env={**os.environ, env: "1"}, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def write_config(tmp_path: Path, sources: list[dict], **extra: object) -> Path:
    import yaml

    data = {
        "output": {"dir": str(tmp_path / "out"), "formats": ["jsonl", "text"]},
        "state": str(tmp_path / "state.sqlite"),
        "fetch": {"per_host_delay": 0, "retries": 2, "respect_robots": False, "timeout": 5},
        "extract": {"workers": 1, "timeout": 20},
        "sources": sources,
    }
    data.update(extra)
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


@pytest.fixture
def seed_clean() -> str:
    return SEED_CLEAN.read_text(encoding="utf-8")


def all_records(out: Path) -> list[dict]:
    """Every record of every finished run under the output directory ``out``, oldest
    run first (every line must parse)."""
    import json

    return [
        json.loads(line)
        for path in sorted(out.glob("runs/*/records.jsonl"))
        for line in path.read_text().splitlines()
    ]


def latest_report(out: Path) -> dict:
    import json

    return json.loads((out / "latest" / "report.json").read_text())


def last_report(out: Path) -> dict:
    """The report of the newest run, from the state next to ``out`` (as
    ``write_config`` lays them out): a run that emitted nothing has no folder."""
    from scraper.store import read_runs

    return read_runs(out.parent / "state.sqlite", 1)[0].model_dump(mode="json")


@pytest.fixture(scope="session")
def postgres():
    """One throwaway PostgreSQL server for the session (see tests/pgserver.py)."""
    from .pgserver import INSTALL_HINT, TempPostgres, binaries

    folder = binaries()
    if folder is None:
        pytest.fail(INSTALL_HINT, pytrace=False)
    server = TempPostgres(folder)
    try:
        server.start()
        yield server
    finally:
        server.stop()


_databases = iter(range(1, 10_000))


@pytest.fixture
def pg_url(postgres) -> str:
    """The URL of a new, empty database on the session's server."""
    import psycopg

    name = f"state_{next(_databases)}"
    with psycopg.connect(postgres.url(), autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    return postgres.url(name)


@pytest.fixture(scope="session")
def dask_scheduler():
    """The address of one local Dask cluster for the session: 2 worker processes of 1
    thread, allowed to start extraction processes."""
    import logging

    import dask
    from distributed import LocalCluster

    dask.config.set({"distributed.worker.daemon": False})
    environ = dict(os.environ)
    with LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        dashboard_address=None,
        silence_logs=logging.ERROR,
    ) as cluster:
        _restore(environ)
        yield cluster.scheduler_address


def _restore(environ: dict[str, str]) -> None:
    os.environ.clear()
    os.environ.update(environ)


@pytest.fixture(autouse=True)
def _environment():
    """The environment as it was before each test: a Dask nanny starting a worker
    sets variables in its own process (MALLOC_TRIM_THRESHOLD_, OMP_NUM_THREADS...),
    which would reach the subprocesses of later tests."""
    environ = dict(os.environ)
    yield
    _restore(environ)
