"""`mlspec diff` on where step code comes from: code.image, code.wheels and code.git changes are
reported in words, once each, and the image a step runs on is one change with its code.image.
(The step package's own change: tests/test_code_change.py.)"""

from __future__ import annotations

from mlspec.diff import diff
from mlspec.diff.sources import Side

SPEC = """\
apiVersion: mlspec/v1
kind: Pipeline
metadata: {{name: demo, version: 1.0.0}}
defaults:
  code: {code}
steps:
  make: {{python: not_beside.steps:make}}
"""
COMMIT_A, COMMIT_B = "a" * 40, "b" * 40
GIT = "{{url: 'https://git.example/acme/repo.git', commit: '{}', path: deploy/prefect}}"


def _changes(old: str, new: str) -> list[tuple[str, str, str]]:
    found = diff(Side("old.yaml", SPEC.format(code=old)), Side("new.yaml", SPEC.format(code=new)))
    return [(c.subject, c.summary, c.risk) for c in found.changes if c.subject != "version"]


def test_a_new_code_image_is_one_change_of_the_image_the_step_runs_on() -> None:
    assert _changes(
        "{image: 'ghcr.io/acme/steps@sha256:" + "1" * 64 + "'}",
        "{image: 'ghcr.io/acme/steps@sha256:" + "2" * 64 + "'}",
    ) == [
        (
            "step make",
            f"code.image ghcr.io/acme/steps@sha256:{'1' * 64} -> "
            f"ghcr.io/acme/steps@sha256:{'2' * 64}",
            "review",
        )
    ]


def test_wheels_and_a_git_commit_are_named() -> None:
    assert _changes(
        "{wheels: 'https://wheels.example/a', git: " + GIT.format(COMMIT_A) + "}",
        "{wheels: 'https://wheels.example/b', git: " + GIT.format(COMMIT_B) + "}",
    ) == [
        (
            "pipeline",
            "mlspec's runtime reaches Kubeflow as a pinned wheel from https://wheels.example/b "
            "(was a pinned wheel from https://wheels.example/a)",
            "review",
        ),
        (
            "step make",
            "code.wheels https://wheels.example/a -> https://wheels.example/b",
            "review",
        ),
        ("step make", f"code.git commit {'a' * 12} -> {'b' * 12}", "review"),
    ]


def test_adding_git_says_where_from_and_moving_the_spec_changes_nothing() -> None:
    added = _changes("{root: .}", "{git: " + GIT.format(COMMIT_A) + "}")
    assert added == [
        (
            "step make",
            "code.git none -> https://git.example/acme/repo.git at aaaaaaaaaaaa, "
            "path deploy/prefect",
            "review",
        )
    ]
    same = "{git: " + GIT.format(COMMIT_A) + "}"
    moved = diff(
        Side("old.yaml", SPEC.format(code=same)),
        Side("new.yaml", "# a comment moves every line\n" + SPEC.format(code=same)),
    )
    assert moved.changes == ()
