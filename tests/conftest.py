from __future__ import annotations

import json
from pathlib import Path

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
