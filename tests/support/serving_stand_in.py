"""TEMPORARY, until the serving runtime lands (#21: runtime/serving.py and
`runtime.steps.serving_gate_step`, written beside this change): Kubeflow components of a serving
gate compile without that function. The embedded runtime then carries the whole `steps` module
instead of the entry it lacks; nothing else changes, so every other spec compiles to the same
bytes. Once `steps.serving_gate_step` exists this does nothing: delete it then.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from mlspec.runtime import embed, steps

ENTRY = "steps:serving_gate_step"


def missing() -> bool:
    return not hasattr(steps, "serving_gate_step")


@contextmanager
def compiling_without_the_serving_runtime() -> Iterator[None]:
    if not missing():
        yield
        return
    original = embed.component_package

    def component_package(entries: tuple[str, ...]) -> embed.Package:
        return original(tuple("steps" if e == ENTRY else e for e in entries))

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(embed, "component_package", component_package)
        yield
