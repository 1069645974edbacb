"""Names as every part of mlspec compares them: the form a target reduces a name to, and the
did-you-mean hint for a name that is not there.

Imported by the compiler and the back ends alike, so it imports nothing else from mlspec.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable


def target_key(name: str) -> str:
    """The form every target reduces a name to (KFP and Kubernetes: '-' for runs of '_')."""
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def suggest(word: str, options: Iterable[str], *, prefix: bool = False) -> str | None:
    """'did you mean ...?' naming the option closest to `word`, or None if none is close.

    With `prefix`, an option that starts with `word` counts as close too (an abbreviation:
    'blue' for 'blue_green', too short for a close match).
    """
    choices = list(options)
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    if not close and prefix and word:
        close = [option for option in choices if option.startswith(word)][:1]
    return f"did you mean {close[0]!r}?" if close else None
