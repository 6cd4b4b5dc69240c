"""The layers hold: import-linter's contracts from pyproject.toml, checked on every test run."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from importlinter.api import read_configuration

pytestmark = pytest.mark.no_database  # the PostgreSQL run leaves these to the SQLite run

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = ROOT / "pyproject.toml"


def _contracts() -> dict[str, dict]:
    options = read_configuration(str(PYPROJECT))
    return {c["type"] + ":" + c["name"]: c for c in options["contracts_options"]}


def test_the_layer_rules_are_configured():
    """The rules the README states are contracts, so deleting one is a visible change."""
    contracts = list(_contracts().values())
    layers = [c for c in contracts if c["type"] == "layers"]
    assert [c["layers"] for c in layers] == [["portal", "search_index", "bids"]]
    forbidden = [c for c in contracts if c["type"] == "forbidden"]
    assert any(
        c["source_modules"] == ["bids"]
        and set(c["forbidden_modules"]) == {"portal", "search_index"}
        for c in forbidden
    )
    acyclic = [c for c in contracts if c["type"] == "acyclic_siblings"]
    assert any(set(c["ancestors"]) == {"portal", "search_index", "bids"} for c in acyclic)


def test_import_contracts_are_kept():
    """`lint-imports` passes: no layer reaches up, the domain imports neither, no cycles."""
    lint_imports = Path(sys.executable).parent / "lint-imports"
    result = subprocess.run(
        [str(lint_imports), "--no-cache"],  # reads ROOT/pyproject.toml
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
