"""`${inputs.x}` / `${outputs.y}` in container commands, split for a back end to fill in."""

from __future__ import annotations

import re
from typing import Literal

# `$${` is a literal `${` (as the front end reads them).
PLACEHOLDER_RE = re.compile(r"(?<!\$)\$\{(inputs|outputs)\.([a-z][a-z0-9_]*)\}")

Piece = str | tuple[Literal["inputs", "outputs"], str]


def split(text: str) -> list[Piece]:
    """Literal text and (kind, name) placeholders, in order; literal `$${` becomes `${`."""
    pieces: list[Piece] = []
    last = 0
    for match in PLACEHOLDER_RE.finditer(text):
        if match.start() > last:
            pieces.append(text[last : match.start()].replace("$${", "${"))
        pieces.append((match.group(1), match.group(2)))  # type: ignore[arg-type]
        last = match.end()
    if last < len(text) or not pieces:
        pieces.append(text[last:].replace("$${", "${"))
    return pieces
