"""`mlspec compile --env NAME|all` and `validate` over environments (issue #24): one folder per
environment, byte-identical on every compile, differing from the spec as written only where the
environment binds; `compile --check` covers every environment; bad input writes nothing."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from mlspec.cli import main

ROOT = Path(__file__).resolve().parents[1]
FLAGSHIP = ROOT / "examples" / "breast-cancer" / "pipeline.yaml"
ENVIRONMENTS = ("dev", "staging", "prod")
TARGETS = ("kubeflow", "airflow", "prefect", "rollout")


def compile_(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["compile", *args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exc_info
    return result.exit_code, result.stdout, result.stderr


def tree(folder: Path) -> dict[str, bytes]:
    """The generated files (without the output's own manifest of what it wrote)."""
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name != ".mlspec-manifest"
    }


@pytest.fixture(scope="module")
def flagship(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, dict[str, bytes]]]:
    """Per target: the spec as written ('') and every environment (--env all), compiled."""
    out = tmp_path_factory.mktemp("compiled")
    found: dict[str, dict[str, dict[str, bytes]]] = {}
    for target in TARGETS:
        code, _, err = compile_(
            str(FLAGSHIP), "-t", target, "--env", "all", "-o", f"{out}/{target}"
        )
        assert code == 0, err
        code, _, err = compile_(str(FLAGSHIP), "-t", target, "-o", f"{out}/{target}-plain")
        assert code == 0, err
        every = tree(out / target)
        found[target] = {"": tree(out / f"{target}-plain")}
        for env in ENVIRONMENTS:
            prefix = f"{env}/"
            found[target][env] = {
                k.removeprefix(prefix): v for k, v in every.items() if k.startswith(prefix)
            }
        assert sorted({k.split("/")[0] for k in every}) == sorted(ENVIRONMENTS)
    return found


@pytest.mark.parametrize("target", TARGETS)
def test_every_environment_compiles_the_same_files(target: str, flagship: dict) -> None:
    """One folder per environment holding the files of the spec as written, and bytes that
    differ from them: each environment binds something of every target's output."""
    plain = flagship[target][""]
    for env in ENVIRONMENTS:
        assert sorted(flagship[target][env]) == sorted(plain), env
        assert flagship[target][env] != plain, env


@pytest.mark.parametrize("target", TARGETS)
def test_a_second_compile_is_byte_identical_and_check_passes(
    target: str, flagship: dict, tmp_path: Path
) -> None:
    code, _, err = compile_(str(FLAGSHIP), "-t", target, "--env", "all", "-o", str(tmp_path / "o"))
    assert code == 0, err
    again = tree(tmp_path / "o")
    assert again == {f"{e}/{k}": v for e in ENVIRONMENTS for k, v in flagship[target][e].items()}
    code, out, _ = compile_(
        str(FLAGSHIP), "-t", target, "--env", "all", "-o", str(tmp_path / "o"), "--check"
    )
    assert code == 0, out
    # A stale file in one environment's folder: --check says so (exit 1) and names it.
    stale = sorted((tmp_path / "o" / "prod").rglob("*.yaml"))[0]
    stale.write_text(stale.read_text() + "# edited\n")
    code, out, _ = compile_(
        str(FLAGSHIP), "-t", target, "--env", "all", "-o", str(tmp_path / "o"), "--check"
    )
    assert code == 1
    assert stale.relative_to(tmp_path / "o").as_posix() in out
    assert "--env all" in out  # the command that brings it up to date


def test_rollout_manifests_differ_only_where_the_environment_binds(flagship: dict) -> None:
    """The manifests of each environment, read as YAML by PyYAML: prod's namespace, replicas,
    resources, mirrored image and Prometheus; dev's; everything else as the spec says."""
    spec = yaml.safe_load(FLAGSHIP.read_text())
    rollout = next(k for k in flagship["rollout"][""] if k.startswith("rollout-"))
    read = {e: yaml.safe_load(flagship["rollout"][e][rollout]) for e in ("", *ENVIRONMENTS)}
    for env in ENVIRONMENTS:
        bound = spec["environments"][env]
        doc = read[env]
        assert doc["metadata"]["namespace"] == bound["namespace"]
        replicas = bound.get("serving", {}).get("replicas", spec["rollout"]["service"]["replicas"])
        assert doc["spec"]["replicas"] == replicas
        # The same document once the bound fields are put back as the spec has them.
        doc["metadata"]["namespace"] = read[""]["metadata"]["namespace"]
        doc["spec"]["replicas"] = read[""]["spec"]["replicas"]
        container = doc["spec"]["template"]["spec"]["containers"][0]
        plain = read[""]["spec"]["template"]["spec"]["containers"][0]
        if env == "prod":
            assert container["image"] == "registry.prod.acme.io/acme/sklearn-server:1.4.0"
            assert container["resources"] != plain["resources"]
            container["resources"] = plain["resources"]
        container["image"] = plain["image"]
        container["env"] = plain["env"]  # the tracking URI the serving pods read
        assert doc == read[""], env


def test_a_gate_tightened_in_prod_only(flagship: dict) -> None:
    """prod's model gate requires auc >= 0.97 (a fixed number, instead of params.min_auc);
    the champion comparison on auc keeps no min (bind gave it prod's before)."""
    dag = {e: flagship["airflow"][e]["breast_cancer_classifier.py"].decode() for e in ENVIRONMENTS}
    assert '"min": 0.97,' in dag["prod"]
    assert '"min": 0.97,' not in dag["staging"] and "min_auc" in dag["staging"]
    ir = json.loads(next(iter(flagship_ir("prod").values())))
    assert ir["environment"] == "prod"
    [gate] = [g for g in ir["gates"] if g["name"] == "model_quality"]
    assert [(r["vs"], r["min"]) for r in gate["requirements"]] == [
        (None, 0.97),
        (None, 0.9),
        ("champion", None),
    ]


def flagship_ir(env: str) -> dict[str, str]:
    from mlspec.api import compile_pipeline
    from mlspec.compiler import analyze_file

    compiled = compile_pipeline(analyze_file(FLAGSHIP).for_environment(env), "ir")
    return {a.path: a.text for a in compiled.artifacts}


def test_an_unknown_environment_is_ms270_and_writes_nothing(tmp_path: Path) -> None:
    out = tmp_path / "out"
    code, _, err = compile_(str(FLAGSHIP), "-t", "kubeflow", "--env", "production", "-o", str(out))
    assert code == 1
    line = FLAGSHIP.read_text().splitlines().index("environments:") + 1
    assert f"pipeline.yaml:{line}:1: error[MS270]: no environment 'production' in the spec" in err
    assert "hint: environments: dev, staging, prod" in err
    code, _, err = compile_(str(FLAGSHIP), "-t", "kubeflow", "--env", "prd", "-o", str(out))
    assert code == 1 and "did you mean 'prod'?" in err
    assert not out.exists()
    # An existing output stays as it was.
    out.mkdir()
    (out / "keep.txt").write_text("kept")
    code, _, _ = compile_(str(FLAGSHIP), "-t", "kubeflow", "--env", "production", "-o", str(out))
    assert code == 1 and tree(out) == {"keep.txt": b"kept"}


def test_env_all_without_environments_is_ms270(tmp_path: Path) -> None:
    spec = ROOT / "specs" / "valid" / "container-steps.yaml"
    code, _, err = compile_(str(spec), "-t", "kubeflow", "--env", "all", "-o", str(tmp_path / "o"))
    assert code == 1
    assert "error[MS270]" in err and "none declared" in err
    assert not (tmp_path / "o").exists()


def test_a_failing_environment_writes_no_environment(tmp_path: Path) -> None:
    """--env all is one write: when the spec fails the target in its environments (Airflow
    refuses a Kubernetes secret in a Python step's env), no environment's folder is written."""
    folder = tmp_path / "spec"
    shutil.copytree(FLAGSHIP.parent, folder, ignore=shutil.ignore_patterns("__pycache__", "build"))
    text = FLAGSHIP.read_text()
    text = text.replace(
        "    outputs: {auc: float, accuracy: float, report: metrics}\n",
        "    outputs: {auc: float, accuracy: float, report: metrics}\n"
        "    env: {TOKEN: {secret: {name: scorer, key: token}}}\n",
    )
    (folder / "pipeline.yaml").write_text(text)
    out = tmp_path / "out"
    code, _, err = compile_(
        str(folder / "pipeline.yaml"), "-t", "kubeflow", "--env", "all", "-o", str(out)
    )
    assert code == 0, err  # Kubeflow runs it in a pod that reads the secret
    shutil.rmtree(out)
    code, _, err = compile_(
        str(folder / "pipeline.yaml"), "-t", "airflow", "--env", "all", "-o", str(out)
    )
    assert code == 1 and "error[MS301]" in err
    assert not out.exists()


def test_a_target_diagnostic_about_a_bound_value_points_into_the_environment(
    tmp_path: Path,
) -> None:
    """Airflow warns about an artifact root that is not a path: for dev's root, at dev's line
    (before, at the spec's `artifact_root`, or at the top when the spec has none)."""
    text = FLAGSHIP.read_text().replace(
        "    namespace: ml-dev\n", "    namespace: ml-dev\n    artifact_root: s3://acme-dev/bc\n"
    )
    folder = tmp_path / "spec"
    shutil.copytree(FLAGSHIP.parent, folder, ignore=shutil.ignore_patterns("__pycache__", "build"))
    (folder / "pipeline.yaml").write_text(text)
    line = text.splitlines().index("    artifact_root: s3://acme-dev/bc") + 1
    code, _, err = compile_(
        str(folder / "pipeline.yaml"), "-t", "airflow", "--env", "dev", "-o", str(tmp_path / "o")
    )
    assert code == 0, err
    assert f"pipeline.yaml:{line}:20: warning[MS302]: airflow tasks read and write artifacts" in err
    result = CliRunner().invoke(main, ["validate", str(folder / "pipeline.yaml"), "-t", "airflow"])
    assert result.exit_code == 0
    assert f"pipeline.yaml:{line}:20: warning[MS302]" in result.stderr
    assert "3 environments" in result.stdout


def test_one_environment_writes_its_files_at_the_top(tmp_path: Path, flagship: dict) -> None:
    code, out, err = compile_(
        str(FLAGSHIP), "-t", "rollout", "--env", "prod", "-o", str(tmp_path / "o")
    )
    assert code == 0, err
    assert "environment prod" in out
    assert tree(tmp_path / "o") == flagship["rollout"]["prod"]
