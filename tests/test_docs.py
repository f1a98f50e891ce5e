"""Docs cannot drift: generated references are current; settings and scopes are documented."""

from __future__ import annotations

from pathlib import Path

from juncture import docsgen
from juncture.access.enums import Scope
from juncture.config import Settings

DOCS = Path(__file__).resolve().parents[1] / "docs"
README = Path(__file__).resolve().parents[1] / "README.md"


def test_generated_references_are_current() -> None:
    for path, text in docsgen.outputs().items():
        assert path.read_text() == text, f"{path.name} is stale: run `make docs`"


def test_every_setting_is_in_the_readme_and_settings_doc() -> None:
    readme = README.read_text()
    settings_doc = (DOCS / "settings.md").read_text()
    for name in Settings.model_fields:
        assert f"JUNCTURE_{name.upper()}" in settings_doc
    for key in ("JUNCTURE_DATABASE_URL", "JUNCTURE_HOST", "JUNCTURE_PORT"):
        assert key in readme


def test_every_scope_is_documented() -> None:
    text = (DOCS / "access.md").read_text()
    for scope in Scope:
        assert f"`{scope.value}`" in text


def test_readme_starts_with_the_two_commands() -> None:
    head = "\n".join(README.read_text().splitlines()[:40])
    assert "make demo" in head
    assert "make test" in head
