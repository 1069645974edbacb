"""The breast-cancer example with three environments (dev, staging, prod) that set every field
an environment has: tests/diff/environments/environments.yaml in place of the example's own
environments, the example's defaults reading S3_KEY from a secret (which prod rebinds). Analyse
it under EXAMPLE's name, so that its step package is found beside it."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "breast-cancer" / "pipeline.yaml"
SECTION = ROOT / "tests" / "diff" / "environments" / "environments.yaml"
_RESOURCES = '  resources: {cpu: "1", memory: 2Gi}\n'
_SECRET = "  env:\n    S3_KEY: {secret: {name: s3, key: secret-key}}\n"


def with_environments() -> str:
    text = without_environments(EXAMPLE.read_text(encoding="utf-8"))
    assert text.count(_RESOURCES) == 1, "the example's defaults changed: update this helper"
    return text.replace(_RESOURCES, _RESOURCES + _SECRET) + "\n" + SECTION.read_text()


def without_environments(text: str) -> str:
    """A spec's text less its environments section (the top-level `environments:` block)."""
    lines = text.splitlines(keepends=True)
    start = lines.index("environments:\n")
    end = next(
        (i for i in range(start + 1, len(lines)) if lines[i][:1] not in (" ", "\n")),
        len(lines),
    )
    return "".join(lines[:start] + lines[end:])
