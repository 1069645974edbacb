"""The front end: spec file -> typed IR, through load, parse, check and lower."""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from mlspec.compiler import checks, parse, source
from mlspec.compiler.spec import Spec
from mlspec.diagnostics import Diagnostic, SpecError

if TYPE_CHECKING:
    from mlspec.compiler.code import PackageFiles
    from mlspec.compiler.ir import Pipeline
    from mlspec.compiler.siblings import SpecFolder


class Analysis:
    """A spec that passed every check: its source, its model, its IR and any warnings."""

    def __init__(
        self,
        src: source.Source,
        spec: Spec,
        warnings: tuple[Diagnostic, ...],
        package_files: PackageFiles | None = None,
    ) -> None:
        self.source = src
        self.spec = spec
        self.warnings = warnings
        self.package_files = package_files  # where step packages are read (default: on disk)
        self.environment: str | None = None  # the environment `spec` is bound to (for_environment)

    @cached_property
    def pipeline(self) -> Pipeline:
        """The IR, lowered on first use: `validate` never needs it (nor its import cost)."""
        import dataclasses

        from mlspec.compiler.lower import lower

        pipeline = lower(self.spec, self.source, self.package_files)
        if self.environment is not None:
            from mlspec.compiler.environments import promoted_only

            pipeline = promoted_only(pipeline, self.spec.environments[self.environment])
        return dataclasses.replace(pipeline, environment=self.environment)

    def for_environment(self, name: str) -> Analysis:
        """This spec as it runs in environment `name` (compile --env): SpecError if the spec
        has no such environment, or the bound spec fails a check."""
        from mlspec.compiler.environments import bind, rebased
        from mlspec.names import suggest

        if name not in self.spec.environments:
            known = ", ".join(self.spec.environments) or "none declared"
            at = ("environments",) if self.source.has(("environments",)) else ()
            raise SpecError(
                [
                    Diagnostic(
                        self.source.span(at, key=True),
                        "MS270",
                        f"no environment {name!r} in the spec",
                        suggest(name, self.spec.environments) or f"environments: {known}",
                    )
                ]
            )
        bound = bind(self.spec, name)
        src = rebased(self.source, self.spec, name)  # bound values at the environment's lines
        # The environments were checked as the spec writes them; bound, one of them replaces
        # the spec's values, so comparing environments again would compare with themselves.
        alone = bound.model_copy(update={"environments": {}})
        errors = [d for d in checks.check(alone, src) if d.severity == "error"]
        if errors:
            raise SpecError(errors)
        analysis = Analysis(src, bound, self.warnings, self.package_files)
        analysis.environment = name
        return analysis


def analyze_text(
    text: str,
    file: str,
    package_files: PackageFiles | None = None,
    folder: SpecFolder | None = None,
) -> Analysis:
    """As `analyze_bytes`; `package_files` reads step packages, `folder` the specs beside it,
    from elsewhere than beside `file` (a git revision)."""
    src = source.load_text(text, file)
    src.folder = folder
    analysis = _analyze(src)
    analysis.package_files = package_files
    return analysis


def analyze_bytes(raw: bytes, file: str) -> Analysis:
    """Raises SpecError with every problem of the first stage that found any."""
    return _analyze(source.load_bytes(raw, file))


def analyze_file(path: str | Path, display_name: str | None = None) -> Analysis:
    """Raises OSError if the file cannot be read, else as `analyze_bytes`."""
    return _analyze(source.read(path, display_name))


def _analyze(src: source.Source) -> Analysis:
    spec = parse.parse(src)
    found = checks.check(spec, src)
    errors = [d for d in found if d.severity == "error"]
    if errors:  # warnings then are mostly echoes of the errors (a gate unused after a typo)
        raise SpecError(errors)
    warnings = tuple(sorted((d for d in found if d.severity == "warning"), key=Diagnostic.sort_key))
    return Analysis(src, spec, warnings)
