"""Mermaid's own parser under node (tests/mermaid/parse.mjs), for every test that writes Mermaid.

`npm ci` installs the pinned packages in tests/mermaid/ on first use. Without node (or npm when
they are not installed yet) the caller's test skips with the reason, so that a machine with
Python and uv only passes; .ci/run installs node and sets MLSPEC_REQUIRE_TOOLS, under which a
missing tool fails the tests instead, so CI always checks the diagrams.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from support.locks import exclusive

ROOT = Path(__file__).resolve().parents[2]
MERMAID_DIR = ROOT / "tests" / "mermaid"
REQUIRE_TOOLS_ENV = "MLSPEC_REQUIRE_TOOLS"
_HINT = "the Mermaid tests parse with node (v20+) and npm; CI provides both"


def require_tool(tool: str, hint: str) -> str:
    """The tool's path; without it the test skips (a plain `uv run pytest`) or fails (CI)."""
    found = shutil.which(tool)
    if found is None:
        message = f"`{tool}` is not on PATH: {hint}"
        if os.environ.get(REQUIRE_TOOLS_ENV):
            pytest.fail(f"{message} ({REQUIRE_TOOLS_ENV} is set)", pytrace=False)
        pytest.skip(message)
    return found


def _installed() -> bool:
    """Each pinned package is in node_modules at its pinned version."""
    wanted = json.loads((MERMAID_DIR / "package.json").read_text())["dependencies"]
    for name, version in wanted.items():
        manifest = MERMAID_DIR / "node_modules" / name / "package.json"
        if not manifest.is_file() or json.loads(manifest.read_text())["version"] != version:
            return False
    return True


def parse(diagrams: list[str]) -> list[dict[str, Any]]:
    """Mermaid's verdict on each diagram (parse.mjs documents the shape), in one node process."""
    node = require_tool("node", _HINT)
    with exclusive(ROOT / ".cache" / "mermaid-npm.lock"):  # parallel workers install it once
        if not _installed():
            npm = require_tool("npm", _HINT)
            done = subprocess.run(
                [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
                cwd=MERMAID_DIR,
                capture_output=True,
                text=True,
                timeout=600,
            )
            assert done.returncode == 0, f"npm ci in {MERMAID_DIR} failed:\n{done.stderr}"
    done = subprocess.run(
        [node, str(MERMAID_DIR / "parse.mjs")],
        input=json.dumps(diagrams),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    results: list[dict[str, Any]] = json.loads(done.stdout)
    return results
