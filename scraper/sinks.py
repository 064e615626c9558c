"""Outputs, written atomically: a temp file in the same directory, fsync, rename.

* ``records.jsonl``: one ``Article`` per line; each batch rewrites the file as the
  old content plus the new lines, so a reader never sees half a record.
* ``text/<id>.txt``: the seed-format text of each article (``id`` is hex, never
  page text, so file names are safe).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

from .errors import SinkError
from .models import Article
from .normalise import article_seed_text

RECORDS = "records.jsonl"


def atomic_write(path: Path, data: bytes, keep_existing: bool = False) -> None:
    """Write ``data`` to ``path`` atomically; with ``keep_existing`` the old content
    of ``path`` comes first (an atomic append)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            if keep_existing and path.exists():
                with path.open("rb") as old:
                    shutil.copyfileobj(old, out, 1 << 20)
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class Sinks:
    """Writes batches of articles in the configured formats under ``out_dir``."""

    def __init__(self, out_dir: Path, formats: Sequence[str], captions_inline: bool = False):
        self.out_dir = Path(out_dir)
        self.formats = tuple(formats)
        self.captions_inline = captions_inline

    def remove_stale_temp_files(self) -> None:
        """Temp files left by a killed run (call while holding the run lock)."""
        for folder in (self.out_dir, self.out_dir / "text"):
            for tmp in folder.glob(".*.tmp"):
                tmp.unlink(missing_ok=True)

    def write(self, articles: Sequence[Article]) -> None:
        if not articles:
            return
        try:
            if "text" in self.formats:
                for article in articles:
                    text = article_seed_text(article, self.captions_inline)
                    atomic_write(self.out_dir / "text" / f"{article.id}.txt", text.encode())
            if "jsonl" in self.formats:
                lines = "".join(a.model_dump_json() + "\n" for a in articles)
                atomic_write(self.out_dir / RECORDS, lines.encode(), keep_existing=True)
        except OSError as exc:
            raise SinkError(f"cannot write output in {self.out_dir}: {exc}") from exc
