"""The documentation lists every diagnostic code and its examples still validate."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from mlspec.cli import main
from mlspec.codes import CODES

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = (ROOT / "specs" / "README.md").read_text(encoding="utf-8")


def test_reference_lists_every_code_with_its_title() -> None:
    rows = dict(re.findall(r"^\| (MS\d{3}) \| ([^|]+) \|", REFERENCE, re.MULTILINE))
    assert sorted(rows) == sorted(CODES), "specs/README.md's code table and codes.py differ"
    for code, title in CODES.items():
        assert rows[code].strip().startswith(title), code


def test_readme_test_command_is_what_ci_runs() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    command = ci.rstrip().splitlines()[-1]
    assert command.startswith("uv run pytest")
    assert f"\n{command}\n" in readme


# Tour commands that need a server, a registry or a git history of their own, or that write
# into the checkout (init has tests of its own).
_NOT_OFFLINE = {"run", "deploy", "promote", "resolve-model", "diff", "init"}


def _tour_commands() -> list[list[str]]:
    """The README tour's `uv run mlspec ...` commands whose every argument is concrete."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = readme.split("## A short tour", 1)[1].split("```sh\n", 1)[1].split("```", 1)[0]
    block = re.sub(r"\\\n\s*", "", block)  # continuation lines
    commands = []
    for line in block.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line.startswith("uv run mlspec ") or ">" in line:
            continue
        args = shlex.split(line)[3:]
        if args[0] in _NOT_OFFLINE or any(re.fullmatch(r"[A-Z]+", a) for a in args):
            continue
        expanded: list[str] = []
        for arg in args:
            matches = (
                sorted(str(p.relative_to(ROOT)) for p in ROOT.glob(arg)) if "*" in arg else [arg]
            )
            assert matches, f"README tour: {arg!r} matches no file"
            expanded += matches
        commands.append(expanded)
    return commands


@pytest.mark.parametrize("args", _tour_commands(), ids=" ".join)
def test_readme_tour_commands_work(
    args: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(ROOT)
    if "-o" in args:  # write into a scratch folder, not the checkout
        args = [*args[: args.index("-o") + 1], str(tmp_path / "out"), *args[args.index("-o") + 2 :]]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output


def test_the_tour_is_mostly_runnable() -> None:
    assert len(_tour_commands()) >= 6


def test_readme_lists_the_registered_targets() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = readme.split("$ mlspec targets\n", 1)[1].split("```", 1)[0]
    assert block == CliRunner().invoke(main, ["targets"]).output


ENVIRONMENTS = ROOT / "docs" / "environments.md"


def _anchors(page: Path) -> set[str]:
    """GitHub's anchors of a page's headings: lower case, punctuation but - and _ dropped."""
    headings = re.findall(r"^#+ (.+)$", page.read_text(encoding="utf-8"), re.MULTILINE)
    return {re.sub(r"[^\w\- ]", "", h.lower()).replace(" ", "-") for h in headings}


def test_the_environments_page_is_linked_and_its_links_resolve() -> None:
    for page in ("README.md", "docs/review.md"):
        assert "environments.md" in (ROOT / page).read_text(encoding="utf-8"), page
    text = ENVIRONMENTS.read_text(encoding="utf-8")
    links = re.findall(r"\]\(([^)#]+)(?:#([^)]+))?\)", text)
    assert len(links) >= 4
    for target, anchor in links:
        page = (ENVIRONMENTS.parent / target).resolve()
        assert page.is_file(), target
        assert not anchor or anchor in _anchors(page), f"{target}#{anchor}"
    review = (ROOT / "docs" / "review.md").read_text(encoding="utf-8")
    assert "environments.md#which-environment-is-production" in review
    assert "which-environment-is-production" in _anchors(ENVIRONMENTS)


def test_the_environments_example_is_a_valid_environments_section() -> None:
    from mlspec.compiler import spec

    block = ENVIRONMENTS.read_text(encoding="utf-8").split("```yaml\n", 1)[1].split("```", 1)[0]
    section = yaml.safe_load(block)["environments"]
    assert list(section) == ["dev", "staging", "prod"]
    bound = {name: spec.Environment.model_validate(env) for name, env in section.items()}
    assert bound["prod"].promote_from == "staging"
    # every field an environment has is shown somewhere
    shown = {field for env in section.values() for field in env}
    assert shown >= set(spec.Environment.model_fields) - {"prometheus"}


def test_the_gitops_layout_names_each_output_folder_in_one_place() -> None:
    """What `compile --target rollout` writes is named once, in the layout table, so that a
    renamed folder is one edit of the page."""
    lines = ENVIRONMENTS.read_text(encoding="utf-8").splitlines()
    for name in ("base/", "overlays/", "argocd/"):
        where = [line for line in lines if name in line]
        assert len(where) == 1 and where[0].startswith("| `deploy/fraud/"), (name, where)
