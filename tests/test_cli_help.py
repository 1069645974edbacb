"""Help and shell completion: what a newcomer sees before reading any docs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from mlspec.backends.registry import targets
from mlspec.cli import main


def test_the_command_list_shows_whole_sentences() -> None:
    result = CliRunner().invoke(main, ["--help"], terminal_width=80)
    listing = result.output.split("Commands:", 1)[1]
    assert "..." not in listing
    for name, command in main.commands.items():
        first = (command.help or "").split(".", 1)[0].split()
        assert name in listing and " ".join(first) in " ".join(listing.split())


def _complete(words: str) -> list[str]:
    env = {**os.environ, "_MLSPEC_COMPLETE": "bash_complete", "COMP_WORDS": words}
    env["COMP_CWORD"] = str(len(words.split()) - (0 if words.endswith(" ") else 1))
    done = subprocess.run(
        [Path(sys.executable).parent / "mlspec"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return [line.split(",", 1)[1] for line in done.stdout.splitlines()]


def test_shell_completion_offers_targets_and_formats() -> None:
    assert _complete("mlspec compile spec.yaml --target ") == list(targets())
    assert _complete("mlspec compile spec.yaml --target k") == ["kubeflow"]
    assert _complete("mlspec validate --format ") == ["text", "json", "github"]
    assert "compile" in _complete("mlspec co")
