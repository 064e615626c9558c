"""An optional compiled module: taken when it is built, and its fallback named, with
the reason, when it is not built or is turned off."""

import pytest

from scraper.compiled import optional

ENV = "SCRAPER_TEST_TURNED_OFF"


def missing() -> object:
    raise ImportError("not built")


def test_a_built_module_is_taken(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv(ENV, raising=False)
    module = object()
    assert optional(lambda: module, ENV, "python", "thing") == (module, "compiled")


def test_a_missing_module_leaves_the_fallback_and_says_why(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv(ENV, raising=False)
    assert optional(missing, ENV, "python", "thing") == (
        None,
        "python (no compiled thing: not built)",
    )


def test_the_variable_turns_a_built_module_off(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv(ENV, "1")
    assert optional(object, ENV, "lexbor", "thing") == (None, f"lexbor ({ENV}=1)")
