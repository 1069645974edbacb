"""How Argo Rollouts judges one measurement, for the conditions the rollout back end writes.

Argo (utils/evaluate/evaluate.go, v1.9) compiles each condition with the expr language
(github.com/expr-lang/expr) in an environment of `result` and the functions isNaN, isInf, isNil,
and then `EvaluateResult`: an error in either condition is Error; without a failureCondition
the failure is `not success`; the failureCondition wins; neither true is Inconclusive.

This is the subset of expr the conditions use, with expr's rules: `||` (precedence 10) and `&&`
(15) short-circuit, comparisons (20), unary `!` (50), calls and indexing; an index out of range
is a run-time error (Go panics, expr reports it); NaN compares false with everything (Go's
float64); `!` takes a bool only. The Prometheus provider hands a vector over as []float64 (empty
when the query has no series); the web provider hands over the JSON value (None for null).
"""

from __future__ import annotations

import math
import re
from typing import Any

_TOKEN = re.compile(r"\s*(?:(\d+\.\d+|\d+)|([A-Za-z_][A-Za-z0-9_]*)|(&&|\|\||[<>=!]=|[<>!()\[\]]))")


class ExprError(Exception):
    """A compile or run-time error: Argo's measurement phase is Error."""


def _tokens(text: str) -> list[str]:
    out, pos = [], 0
    while pos < len(text.rstrip()):
        match = _TOKEN.match(text, pos)
        if match is None:
            raise ExprError(f"cannot read {text[pos:]!r}")
        out.append(next(g for g in match.groups() if g is not None))
        pos = match.end()
    return out


class _Parser:
    """Recursive descent, evaluating as it goes; `live` False parses a short-circuited operand
    without evaluating it (as expr's jump instructions skip it)."""

    def __init__(self, text: str, result: Any) -> None:
        self.tokens = _tokens(text)
        self.at = 0
        self.result = result

    def peek(self) -> str | None:
        return self.tokens[self.at] if self.at < len(self.tokens) else None

    def take(self, expected: str | None = None) -> str:
        token = self.peek()
        if token is None or (expected is not None and token != expected):
            raise ExprError(f"expected {expected or 'more'}, got {token!r}")
        self.at += 1
        return token

    def run(self) -> Any:
        value = self.or_(True)
        if self.peek() is not None:
            raise ExprError(f"unexpected {self.peek()!r}")
        return value

    def or_(self, live: bool) -> Any:
        value = self.and_(live)
        while self.peek() == "||":
            self.take()
            if live and _bool(value):
                self.and_(False)  # short-circuited: parsed, not evaluated
            else:
                right = self.and_(live)
                value = _bool(right) if live else None
        return value

    def and_(self, live: bool) -> Any:
        value = self.compare(live)
        while self.peek() == "&&":
            self.take()
            if live and not _bool(value):
                self.compare(False)
            else:
                right = self.compare(live)
                value = _bool(right) if live else None
        return value

    def compare(self, live: bool) -> Any:
        left = self.unary(live)
        if self.peek() in ("<", ">", "<=", ">=", "==", "!="):
            op = self.take()
            right = self.unary(live)
            if not live:
                return None
            return _compare(op, left, right)
        return left

    def unary(self, live: bool) -> Any:
        if self.peek() == "!":
            self.take()
            value = self.unary(live)
            return (not _bool(value)) if live else None
        return self.postfix(live)

    def postfix(self, live: bool) -> Any:
        value = self.primary(live)
        while self.peek() == "[":
            self.take()
            index = self.or_(live)
            self.take("]")
            if live:
                if not isinstance(value, list) or not isinstance(index, int):
                    raise ExprError(f"cannot index {value!r} with {index!r}")
                if not 0 <= index < len(value):
                    raise ExprError(f"index out of range: {index} (array length {len(value)})")
                value = value[index]
        return value

    def primary(self, live: bool) -> Any:
        token = self.take()
        if token == "(":
            value = self.or_(live)
            self.take(")")
            return value
        if token[0].isdigit():
            return float(token) if "." in token else int(token)
        if token == "result":
            return self.result
        if token in _FUNCTIONS:
            self.take("(")
            argument = self.or_(live)
            self.take(")")
            return _FUNCTIONS[token](self.result, argument) if live else None
        raise ExprError(f"unknown name {token!r}")


def _bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ExprError(f"invalid operation on {value!r}: not a bool")
    return value


def _number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ExprError(f"invalid operation on {value!r}: not a number")
    return float(value)


def _compare(op: str, left: Any, right: Any) -> bool:
    a, b = _number(left), _number(right)  # NaN: every comparison but != is false
    return {
        "<": a < b, ">": a > b, "<=": a <= b, ">=": a >= b, "==": a == b, "!=": a != b
    }[op]  # fmt: skip


def _len(_: Any, value: Any) -> int:
    if not isinstance(value, list):
        raise ExprError(f"invalid argument for len: {value!r}")
    return len(value)


_FUNCTIONS = {
    "len": _len,
    "isNaN": lambda _, v: math.isnan(_number(v)),
    "isInf": lambda _, v: math.isinf(_number(v)),
    "isNil": lambda result, _: result is None,  # Argo's isNil looks at the result, not its arg
}


def condition(text: str, result: Any) -> bool:
    value = _Parser(text, result).run()
    if not isinstance(value, bool):
        raise ExprError(f"expected bool, but got {value!r}")
    return value


def phase(result: Any, success: str = "", failure: str = "") -> str:
    """Argo's EvaluateResult: Successful, Failed, Inconclusive or Error."""
    try:
        ok = condition(success, result) if success else False
        bad = condition(failure, result) if failure else False
    except ExprError:
        return "Error"
    if not success and not failure:
        return "Successful"
    if success and not failure:
        bad = not ok
    if failure and not success:
        ok = not bad
    if bad:
        return "Failed"
    return "Successful" if ok else "Inconclusive"
