"""The flagship spec as the Prefect deploy tests deploy it: its workers load the flow from the
flow folder, not from a clone of the commit its `code.git` pins."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from support.environments import without_environments

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "breast-cancer"
FLAGSHIP = EXAMPLE / "pipeline.yaml"
# The flagship's `code:` block, which pins the compiled flow to a commit the workers clone.
GIT_BLOCK = re.compile(r"^  code:\n(?:    .*\n)+", re.MULTILINE)


def variant(folder: Path, **defaults: str) -> Path:
    """A copy of the flagship spec and its step package, without its `code.git` (the workers
    load the flow from the flow folder) and its environments, and with some parameter defaults
    changed."""
    text, count = GIT_BLOCK.subn("", FLAGSHIP.read_text(encoding="utf-8"))
    assert count == 1
    # Deployed as written: its environments would judge a changed default (prod's stricter
    # floor would be looser than a raised min_auc: MS273).
    text = without_environments(text)
    for name, value in defaults.items():
        text, count = re.subn(rf"({name}: \{{type: \w+, default: )[^,}}]+", rf"\g<1>{value}", text)
        assert count == 1, name
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "pipeline.yaml").write_text(text, encoding="utf-8")
    package = shutil.ignore_patterns("__pycache__")
    shutil.copytree(EXAMPLE / "breast_cancer", folder / "breast_cancer", ignore=package)
    return folder / "pipeline.yaml"
