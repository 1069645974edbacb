"""The ecosystem glue: the pre-commit hooks run for real, and the example GitHub Actions
workflow calls only commands and options that exist.

The hooks run in a scratch git repository through pre-commit itself, which installs mlspec
into a virtualenv of its own with `pip install .` (PyPI is needed for the dependencies). The
hook repository is a committed snapshot of the working tree's hook file and package, not the
repository itself: `pre-commit try-repo` takes only tracked files into account (its temporary
commit comes from `git add -u`), so new, uncommitted files would be missing. The snapshot sits
under .cache/, named by a hash of its files, with pre-commit's own cache beside it, so that the
hook environment of `pre-commit run` is built once per change of the package. `try-repo`
always builds a throwaway one (it ignores PRE_COMMIT_HOME): about 20 s with pip's cache warm.
"""

from __future__ import annotations

import hashlib
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from mlspec.cli import main

ROOT = Path(__file__).resolve().parents[1]
HOOKS = ROOT / ".pre-commit-hooks.yaml"
WORKFLOW = ROOT / "examples" / "ci" / "github-actions.yml"
CHURN = ROOT / "examples" / "churn-containers" / "pipeline.yaml"
KSERVE_CANARY = ROOT / "tests" / "rollout" / "matrix" / "kserve--canary.yaml"
# What pre-commit reads from the hook repository: its hook file and what `pip install .` builds.
PACKAGE = (
    ".pre-commit-hooks.yaml",
    "pyproject.toml",
    "README.md",
    "LICENSE",
    "src",
    "schemas/mlspec.schema.json",
)
CACHE = ROOT / ".cache"
OUT = "generated/churn"
COMPILE_ARGS = ["--target", "airflow", "-o", OUT, "pipeline.yaml"]


# -- the hook repository and the scratch repository -----------------------------------------


def _git(cwd: Path, *args: str) -> str:
    env = _clean_env() | {
        "GIT_AUTHOR_NAME": "mlspec tests",
        "GIT_AUTHOR_EMAIL": "tests@mlspec.invalid",
        "GIT_COMMITTER_NAME": "mlspec tests",
        "GIT_COMMITTER_EMAIL": "tests@mlspec.invalid",
    }
    command = ["git", "-c", "commit.gpgsign=false", "-c", "init.defaultBranch=main", *args]
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, check=True)
    return done.stdout


def _clean_env() -> dict[str, str]:
    """The environment without git's hook variables or the test environment's bin folder: the
    hooks must find mlspec in the environment pre-commit built, nowhere else."""
    own_bin = str(Path(sys.executable).parent)
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("GIT_", "PRE_COMMIT", "VIRTUAL_ENV"))
    }
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep) if p != own_bin)
    return env


def _package_files() -> list[str]:
    listed = _git(ROOT, "ls-files", "-z", "--cached", "--others", "--exclude-standard", *PACKAGE)
    return sorted(p for p in set(listed.split("\0")) if p and (ROOT / p).is_file())


def _digest(files: list[str]) -> str:
    digest = hashlib.sha256()
    for rel in files:
        digest.update(rel.encode() + b"\0" + (ROOT / rel).read_bytes() + b"\0")
    return digest.hexdigest()[:12]


def _prune_old_snapshots(keep: Path) -> None:
    """Snapshots of earlier working trees (and their hook environments), after an hour."""
    for old in CACHE.glob("pre-commit-*"):
        if old != keep and time.time() - old.stat().st_mtime > 3600:
            shutil.rmtree(old, ignore_errors=True)


@pytest.fixture(scope="module")
def hook_repo() -> tuple[Path, str, Path]:
    """(repository, its commit, PRE_COMMIT_HOME): built in a temporary folder and renamed into
    place, so a concurrent or interrupted run never leaves half a snapshot."""
    files = _package_files()
    folder = CACHE / f"pre-commit-{_digest(files)}"
    if not folder.is_dir():
        CACHE.mkdir(exist_ok=True)
        building = Path(tempfile.mkdtemp(prefix=".pre-commit-", dir=CACHE))
        print(f"\nstarting: a committed snapshot of the hook repository in {folder}")
        for rel in files:
            (building / "repo" / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / rel, building / "repo" / rel)
        (building / "home").mkdir()
        _git(building / "repo", "init", "-q")
        _git(building / "repo", "add", "-A")
        _git(building / "repo", "commit", "-q", "-m", "snapshot of the working tree")
        try:
            building.rename(folder)
        except OSError:  # another run made it first
            shutil.rmtree(building, ignore_errors=True)
    _prune_old_snapshots(keep=folder)
    rev = _git(folder / "repo", "rev-parse", "HEAD").strip()
    return folder / "repo", rev, folder / "home"


def _broken_churn() -> str:
    text = CHURN.read_text(encoding="utf-8")
    assert text.count("    timeout: 3h\n") == 1
    return text.replace("    timeout: 3h\n", "    timeuot: 3h\n")


@pytest.fixture
def scratch(tmp_path: Path, hook_repo: tuple[Path, str, Path]) -> Path:
    """A git repository with a valid spec, an invalid one, a YAML file that is no spec, a
    committed output folder and a pre-commit config naming the hook repository."""
    repo_path, rev, _ = hook_repo
    repo = tmp_path / "scratch"
    (repo / "specs").mkdir(parents=True)
    shutil.copy(CHURN, repo / "pipeline.yaml")
    (repo / "specs" / "fraud.mlspec.yaml").write_text(_broken_churn(), encoding="utf-8")
    (repo / "specs" / "notes.yaml").write_text("not: [a spec\n", encoding="utf-8")
    config = {
        "repos": [
            {
                "repo": str(repo_path),
                "rev": rev,
                "hooks": [
                    {"id": "mlspec-validate"},
                    {"id": "mlspec-compile-check", "args": COMPILE_ARGS},
                ],
            }
        ]
    }
    (repo / ".pre-commit-config.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    _git(repo, "init", "-q")
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(repo)  # the same relative paths as the hook's arguments
        _compile(repo)
    _git(repo, "add", "-A")
    return repo


def _compile(repo: Path) -> None:
    """The committed output, compiled by the tests' own mlspec (the hook's must agree)."""
    result = CliRunner().invoke(main, ["compile", *COMPILE_ARGS])
    assert result.exit_code == 0, result.output
    assert (repo / OUT / "rollout" / "kustomization.yaml").is_file()


def pre_commit(cwd: Path, home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = _clean_env() | {"PRE_COMMIT_HOME": str(home), "PRE_COMMIT_COLOR": "never"}
    print(f"\nstarting: pre-commit {shlex.join(args)} (in {cwd})")
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "pre_commit", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    print(f"  exit {done.returncode} after {time.monotonic() - started:.1f} s")
    return done


def _line_of(text: str, needle: str) -> int:
    return next(n for n, line in enumerate(text.splitlines(), 1) if needle in line)


# -- the hooks, run by pre-commit ------------------------------------------------------------


@pytest.mark.slow
def test_validate_hook_through_try_repo(hook_repo: tuple[Path, str, Path], scratch: Path) -> None:
    repo, _, home = hook_repo
    files = ["pipeline.yaml", "specs/fraud.mlspec.yaml", "specs/notes.yaml"]
    done = pre_commit(scratch, home, "try-repo", str(repo), "mlspec-validate", "--files", *files)
    output = done.stdout + done.stderr
    assert done.returncode == 1, output
    assert re.search(r"^mlspec validate\.+Failed$", output, re.MULTILINE), output
    line = _line_of(_broken_churn(), "timeuot")
    assert f"specs/fraud.mlspec.yaml:{line}:5: error[MS101]: unknown field 'timeuot'" in output
    assert "did you mean 'timeout'?" in output
    assert "pipeline.yaml: ok (4 steps, 2 gates)" in output  # the valid spec passed
    assert "notes.yaml" not in output  # no spec by its name: not passed to the hook


@pytest.mark.slow
def test_validate_hook_passes_valid_specs(hook_repo: tuple[Path, str, Path], scratch: Path) -> None:
    _, _, home = hook_repo
    done = pre_commit(
        scratch, home, "run", "mlspec-validate", "--verbose", "--files", "pipeline.yaml",
        "specs/notes.yaml",
    )  # fmt: skip
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert re.search(r"^mlspec validate\.+Passed$", output, re.MULTILINE), output
    assert "pipeline.yaml: ok (4 steps, 2 gates)" in output


@pytest.mark.slow
def test_validate_hook_with_a_target(hook_repo: tuple[Path, str, Path], scratch: Path) -> None:
    """`args: [--target, rollout]`: what compiling for the target would refuse fails the hook."""
    repo, rev, home = hook_repo
    kserve = KSERVE_CANARY.read_text(encoding="utf-8").replace(
        "        - weight: 10\n", "        - weight: 10\n        - weight: 30\n"
    )
    (scratch / "specs" / "serving.mlspec.yaml").write_text(kserve, encoding="utf-8")
    hook = {"id": "mlspec-validate", "args": ["--target", "rollout"]}
    config = {"repos": [{"repo": str(repo), "rev": rev, "hooks": [hook]}]}
    (scratch / "targets.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    _git(scratch, "add", "-A")
    files = ("pipeline.yaml", "specs/serving.mlspec.yaml")
    done = pre_commit(scratch, home, "run", "-c", "targets.yaml", "--files", *files)
    output = done.stdout + done.stderr
    assert done.returncode == 1, output
    assert re.search(r"^mlspec validate\.+Failed$", output, re.MULTILINE), output
    line = _line_of(kserve, "weight: 30")
    assert f"specs/serving.mlspec.yaml:{line}:11: error[MS301]: KServe holds one canary" in output
    assert "pipeline.yaml: ok (4 steps, 2 gates; rollout checked)" in output


@pytest.mark.slow
def test_compile_check_hook(hook_repo: tuple[Path, str, Path], scratch: Path) -> None:
    _, _, home = hook_repo
    run = ("run", "mlspec-compile-check", "--verbose", "--files", "pipeline.yaml")
    done = pre_commit(scratch, home, *run)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert re.search(r"^mlspec compile --check\.+Passed$", output, re.MULTILINE), output
    assert f"{OUT} is up to date" in output

    # The spec changes, the committed output does not: the hook fails with the diff.
    spec = scratch / "pipeline.yaml"
    text = spec.read_text(encoding="utf-8")
    assert text.count("ghcr.io/acme/churn-server:3.2.1") == 1
    spec.write_text(text.replace("churn-server:3.2.1", "churn-server:3.3.0"), encoding="utf-8")
    before = {p: p.read_bytes() for p in (scratch / OUT).rglob("*") if p.is_file()}
    done = pre_commit(scratch, home, *run)
    output = done.stdout + done.stderr
    assert done.returncode == 1, output
    assert re.search(r"^mlspec compile --check\.+Failed$", output, re.MULTILINE), output
    assert re.search(rf"^{OUT} is stale: [1-9]\d* changed, 0 missing, 0 extra$", output, re.M)
    assert re.search(r"^-\s+image: ghcr.io/acme/churn-server:3.2.1$", output, re.MULTILINE)
    assert re.search(r"^\+\s+image: ghcr.io/acme/churn-server:3.3.0$", output, re.MULTILINE)
    assert f"to update it: mlspec compile pipeline.yaml --target airflow -o {OUT}" in output
    assert {p: p.read_bytes() for p in (scratch / OUT).rglob("*") if p.is_file()} == before


# -- the hook file --------------------------------------------------------------------------


def test_hook_file_is_a_valid_pre_commit_manifest() -> None:
    from pre_commit.clientlib import load_manifest

    hooks = {hook["id"]: hook for hook in load_manifest(str(HOOKS))}
    assert sorted(hooks) == ["mlspec-compile-check", "mlspec-test", "mlspec-validate"]
    assert hooks["mlspec-validate"]["entry"] == "mlspec validate"
    assert hooks["mlspec-test"]["entry"] == "mlspec test"
    assert hooks["mlspec-test"]["files"] == hooks["mlspec-validate"]["files"]
    assert hooks["mlspec-compile-check"]["entry"] == "mlspec compile --check"
    assert hooks["mlspec-compile-check"]["pass_filenames"] is False
    assert all(hook["language"] == "python" for hook in hooks.values())


@pytest.mark.parametrize(
    ("path", "picked"),
    [
        ("pipeline.yaml", True),
        ("specs/fraud/pipeline.yml", True),
        ("specs/fraud.mlspec.yaml", True),
        ("fraud.mlspec.yml", True),
        ("specs/fraud.yaml", False),
        ("k8s/deployment.yaml", False),
        ("my-pipeline.yaml", False),
        ("pipeline.yaml.bak", False),
        (".buildkite/pipeline.yml", False),
    ],
)
def test_validate_hook_picks_spec_files(path: str, picked: bool) -> None:
    from pre_commit.clientlib import load_manifest

    hook = next(h for h in load_manifest(str(HOOKS)) if h["id"] == "mlspec-validate")
    chosen = re.search(hook["files"], path) and not re.search(hook["exclude"], path)
    assert bool(chosen) is picked


# -- the GitHub Actions workflow ------------------------------------------------------------

_STARTS_A_COMMAND = {None, ";", "&&", "||", "|", "(", "<(", "$(", "{", "then", "else", "do", "!"}


def mlspec_commands(script: str) -> list[list[str]]:
    """The `mlspec ...` command lines of a shell script, as tokens up to the next operator."""
    found = []
    for line in script.replace("\\\n", " ").splitlines():
        lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        tokens: list[str] = list(lexer)
        for i, token in enumerate(tokens):
            previous = tokens[i - 1] if i else None
            if token == "mlspec" and previous in _STARTS_A_COMMAND:
                command = []
                for part in tokens[i:]:
                    if part and all(c in lexer.punctuation_chars for c in part):
                        break
                    command.append(part)
                found.append(command)
    return found


def _workflow() -> dict:  # type: ignore[type-arg]
    return yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))


def _workflow_commands() -> list[list[str]]:
    scripts = [
        step["run"]
        for job in _workflow()["jobs"].values()
        for step in job["steps"]
        if "run" in step
    ]
    return [command for script in scripts for command in mlspec_commands(script)]


def test_workflow_is_valid_yaml_with_the_promised_jobs() -> None:
    workflow = _workflow()
    triggers = workflow[True]  # YAML 1.1 reads the key `on` as true
    assert "pull_request" in triggers
    assert triggers["push"]["branches"] == ["main"]
    assert set(workflow["jobs"]) == {
        "validate",
        "review",
        "drift",
        "deploy",
        "pin-rollout",
        "promote",
    }
    assert workflow["permissions"] == {"contents": "read"}
    for job in workflow["jobs"].values():
        for step in job["steps"]:
            # Event values reach scripts through env:, never spliced into the shell code.
            assert "${{" not in step.get("run", ""), step["run"]


def test_workflow_runs_each_part_of_the_flow() -> None:
    lines = [" ".join(command) for command in _workflow_commands()]
    expected = [
        r"mlspec validate --format github ",
        r"mlspec test ",
        r"mlspec diff --base origin/\$\{BASE_REF\} --format markdown",
        r"mlspec compile \$SPEC --target \$TARGET -o \$OUT .* --check --format github",
        r"mlspec deploy \$spec --target kubeflow",
        r"mlspec resolve-model \$SPEC --print version",
        r"mlspec compile \$SPEC --target rollout .*--model-version \$version --model-uri \$uri",
        r"mlspec promote \$SPEC --alias champion --version \$VERSION --rollout-passed",
    ]
    for pattern in expected:
        assert any(re.match(pattern, line) for line in lines), (pattern, lines)


def test_workflow_commands_exist_with_their_options() -> None:
    for command in _workflow_commands():
        sub = command[1]
        result = CliRunner().invoke(main, [sub, "--help"])
        assert result.exit_code == 0, result.output
        for option in (t.split("=")[0] for t in command[2:] if re.match(r"-[-a-zA-Z]", t)):
            assert re.search(rf"(?<![\w-]){re.escape(option)}(?![\w-])", result.output), (
                f"`mlspec {sub}` has no option {option}"
            )


# A stand-in for the GitHub CLI: it logs each call, and lists the comment EXISTING as the one
# with the marker (none when unset). GitHub cannot be reached from a test.
_GH = """#!/bin/sh
echo "$*" >> "$GH_LOG"
case "$*" in *--paginate*) if [ -n "$EXISTING" ]; then echo "$EXISTING"; fi ;; esac
"""


def _review_steps() -> tuple[dict, dict]:  # type: ignore[type-arg]
    steps = {step.get("name"): step for step in _workflow()["jobs"]["review"]["steps"]}
    return steps["Semantic diff of the changed specs"], steps[
        "Post or update the pull-request comment"
    ]


def _run_step(step: dict, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:  # type: ignore[type-arg]
    """The step's script as Actions runs it (`bash -eo pipefail`), its `env:` from `env`."""
    return subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", step["run"]],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize("earlier_comment", ["", "4242"])
def test_the_review_job_comments_only_when_a_spec_changed(
    tmp_path: Path, earlier_comment: str
) -> None:
    repo, bin_dir = tmp_path / "repo", tmp_path / "bin"
    (repo / "specs").mkdir(parents=True)
    bin_dir.mkdir()
    (bin_dir / "gh").write_text(_GH)
    (bin_dir / "gh").chmod(0o755)
    spec = repo / "specs" / "fraud.yaml"
    spec.write_text(CHURN.read_text())
    (repo / "README.md").write_text("one\n")
    _git(repo, "init", "-q")
    _git(repo, "add", ".")
    _git(repo, "commit", "-qm", "base")
    _git(repo, "update-ref", "refs/remotes/origin/main", "HEAD")  # what checkout fetches
    outputs, log = tmp_path / "outputs", tmp_path / "gh.log"
    env = _clean_env() | {
        # gh first, then the mlspec of this environment (the workflow pip-installs it)
        "PATH": os.pathsep.join(
            [str(bin_dir), str(Path(sys.executable).parent), os.environ["PATH"]]
        ),
        "BASE_REF": "main",
        "GITHUB_OUTPUT": str(outputs),
        "GH_LOG": str(log),
        "EXISTING": earlier_comment,
        "PR": "7",
        "REPO": "acme/models",
    }
    diff_step, post_step = _review_steps()

    (repo / "README.md").write_text("two\n")  # the pull request changes no spec
    done = _run_step(diff_step, repo, env)
    assert done.returncode == 0, done.stderr
    assert "no spec changed since origin/main" in done.stderr
    assert outputs.read_text() == "changed=false\n"
    assert not (repo / "comment.md").exists()
    posted = _run_step(post_step, repo, env | {"CHANGED": "false"})
    assert posted.returncode == 0, posted.stderr
    first, *writes = log.read_text().splitlines()
    assert "--paginate" in first  # it looked for an earlier comment
    if earlier_comment:  # ... which from now on says that no spec changed
        assert [w.split()[2] for w in writes] == ["PATCH"]
        assert (repo / "comment.md").read_text().startswith("<!-- mlspec-diff -->\n")
        assert "No spec changed." in (repo / "comment.md").read_text()
    else:  # no comment at all
        assert writes == []
        assert not (repo / "comment.md").exists()
    log.unlink()

    spec.write_text(CHURN.read_text().replace("default: 20}", "default: 30}", 1))
    outputs.unlink()
    done = _run_step(diff_step, repo, env)
    assert done.returncode == 0, done.stderr
    assert outputs.read_text() == "changed=true\n"
    comment = (repo / "comment.md").read_text()
    assert comment.startswith("<!-- mlspec-diff -->\n## mlspec diff\n")
    assert "specs/fraud.yaml" in comment
    posted = _run_step(post_step, repo, env | {"CHANGED": "true"})
    assert posted.returncode == 0, posted.stderr
    verbs = [line.split()[2] for line in log.read_text().splitlines() if "--method" in line]
    assert verbs == ["PATCH" if earlier_comment else "POST"]
