"""`${inputs.x}` / `${outputs.y}` in container commands, split for a back end to fill in."""

from __future__ import annotations

import re
from typing import Literal, cast

# `$${` is a literal `${` (as the front end reads them).
PLACEHOLDER_RE = re.compile(r"(?<!\$)\$\{(inputs|outputs)\.([a-z][a-z0-9_]*)\}")

Kind = Literal["inputs", "outputs"]
Piece = str | tuple[Kind, str]


def split(text: str) -> list[Piece]:
    """Literal text and (kind, name) placeholders, in order; literal `$${` becomes `${`."""
    pieces: list[Piece] = []
    last = 0
    for match in PLACEHOLDER_RE.finditer(text):
        if match.start() > last:
            pieces.append(text[last : match.start()].replace("$${", "${"))
        kind = cast(Kind, match.group(1))  # the pattern's first group is one of the two
        pieces.append((kind, match.group(2)))
        last = match.end()
    if last < len(text) or not pieces:
        pieces.append(text[last:].replace("$${", "${"))
    return pieces
