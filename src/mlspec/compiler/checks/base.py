"""What every section of the checks shares: reporting at a spec path, resolving references."""

from __future__ import annotations

from dataclasses import dataclass, field

from mlspec.compiler.source import PathKey, Source
from mlspec.compiler.spec import Spec
from mlspec.diagnostics import Diagnostic
from mlspec.names import suggest

NO_LOOPS = (
    "a cycle never ends: a pipeline runs each step once per run (or once per element of its "
    "for_each), in dependency order. Remove this dependency; to repeat work, re-run the "
    "pipeline, on a `schedule` or triggered from outside (CI, the engine's API)"
)


@dataclass
class Checker:
    """The spec under check, its source (for positions) and the problems found so far."""

    spec: Spec
    source: Source
    found: list[Diagnostic] = field(default_factory=list)

    def error(
        self, path: PathKey, code: str, message: str, hint: str | None = None, *, key: bool = False
    ) -> None:
        self.found.append(Diagnostic(self.source.span(path, key=key), code, message, hint))

    def warning(self, path: PathKey, code: str, message: str, hint: str | None = None) -> None:
        self.found.append(
            Diagnostic(self.source.span(path, key=True), code, message, hint, severity="warning")
        )

    def output_type(self, ref: str, path: PathKey, what: str) -> str | None:
        """Resolve 'step.output' or 'params.name' to its type, reporting if it does not exist."""
        head, _, tail = ref.partition(".")
        if head == "params":
            return self.param_type(tail, path, what)
        step = self.spec.steps.get(head)
        if step is None:
            hint = suggest(head, self.spec.steps)
            if head in self.spec.gates:
                hint = f"'{head}' is a gate; gates have no outputs, name it in 'after'"
            self.error(path, "MS201", f"unknown step {head!r} in {what}", hint)
            return None
        if tail not in step.outputs:
            outputs = ", ".join(step.outputs) or "none"
            self.error(
                path,
                "MS201",
                f"step {head!r} has no output {tail!r} ({what})",
                suggest(tail, step.outputs) or f"its outputs: {outputs}",
            )
            return None
        return step.outputs[tail]

    def param_type(
        self, name: str, path: PathKey, what: str, *, for_each: bool = False
    ) -> str | None:
        param = self.spec.params.get(name)
        if param is None:
            declared = ", ".join(self.spec.params) or "none declared"
            self.error(
                path,
                "MS202",
                f"unknown parameter {name!r} in {what}",
                suggest(name, self.spec.params) or f"params: {declared}",
            )
            return None
        if param.type.startswith("list[") and not for_each:
            self.error(
                path,
                "MS235",
                f"list parameter {name!r} read as a value in {what}",
                f"a list parameter is read only by a loop: for_each: params.{name}; its steps "
                "read the element as `item`",
            )
            return None
        return param.type
