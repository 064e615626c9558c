"""The optional compiled modules (``_walk``, ``_find``, ``_trees``): each has a Python
fallback, taken when the module is not built or an environment variable turns it off."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any


def optional(load: Callable[[], Any], env: str, fallback: str, what: str) -> tuple[Any, str]:
    """The module ``load`` gives (None when ``env`` is set to 1 or the module is not
    built), and which way that leaves: "compiled", or ``fallback`` and why."""
    if os.environ.get(env) == "1":
        return None, f"{fallback} ({env}=1)"
    try:
        return load(), "compiled"
    except ImportError as exc:
        return None, f"{fallback} (no compiled {what}: {exc})"
