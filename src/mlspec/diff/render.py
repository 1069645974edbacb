"""A diff for people (text), for a pull-request comment (markdown, with a Mermaid graph of the
pipeline with added, changed and removed nodes marked) and for tools (json)."""

from __future__ import annotations

import json

from mlspec.diff import SpecDiff
from mlspec.diff.model import Change

NO_CHANGE = "no semantic change"
_BADGE = {"risky": "🔴 risky", "review": "🟡 review", "safe": "🟢 safe"}


def headline(d: SpecDiff) -> str:
    if not d.changes:
        return NO_CHANGE
    n = len(d.changes)
    counts = ", ".join(f"{d.count(r)} {r}" for r in ("risky", "review", "safe") if d.count(r))
    return f"{n} change{'s' if n != 1 else ''} ({counts})"


def text(diffs: list[SpecDiff]) -> str:
    out = []
    for d in diffs:
        out.append(f"{_title(d)}: {headline(d)}")
        for c in d.ordered():
            out.append(f"  {c.risk.upper():7} {c.subject}: {c.summary}")
            out.append(f"          {c.reason}")
    return "\n".join(out) + "\n"


def _title(d: SpecDiff) -> str:
    return d.new_label if d.old_label.endswith(d.new_label) else f"{d.old_label} -> {d.new_label}"


def markdown(diffs: list[SpecDiff]) -> str:
    risky = sum(len(d.risky) for d in diffs)
    out = ["## mlspec diff", ""]
    if risky:
        out += [f"**{risky} risky change{'s' if risky != 1 else ''}** need a careful review.", ""]
    for d in diffs:
        out += [f"### `{_title(d)}`: {headline(d)}", ""]
        if d.changes:
            out += ["| risk | what | change | why |", "|---|---|---|---|"]
            out += [_row(c) for c in d.ordered()]
            out.append("")
        graph = _mermaid(d)
        if graph:
            out += [
                "<details><summary>Pipeline graph (changes marked)</summary>",
                "",
                "```mermaid",
                graph.rstrip(),
                "```",
                "",
                "</details>",
                "",
            ]
    return "\n".join(out)


def _row(c: Change) -> str:
    cells = [_BADGE[c.risk], f"`{c.subject}`", c.summary, c.reason]
    return "| " + " | ".join(_cell(cell) for cell in cells) + " |"


def _cell(value: str) -> str:
    # A pipe would end the cell and a newline the row; spec text may hold either.
    return value.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def _mermaid(d: SpecDiff) -> str | None:
    from mlspec import graph

    if d.old is None and d.new is None:
        return None
    old = graph.build(d.old) if d.old is not None else graph.Graph((), ())
    new = graph.build(d.new) if d.new is not None else graph.Graph((), ())
    merged, marks = graph.merge(old, new)
    ids = {node.id for node in merged.nodes}
    for c in d.changes:  # changes that leave a node's label as it was still mark it
        if c.node in ids and c.node not in marks:
            marks[c.node] = "changed"
    return graph.mermaid(merged, marks)


def as_json(diffs: list[SpecDiff]) -> str:
    files = [
        {
            "old": d.old_label,
            "new": d.new_label,
            "summary": headline(d),
            "changes": [
                {
                    "risk": c.risk,
                    "subject": c.subject,
                    "summary": c.summary,
                    "reason": c.reason,
                    "bump": c.bump,
                }
                for c in d.ordered()
            ],
        }
        for d in diffs
    ]
    return json.dumps({"files": files}, indent=2, ensure_ascii=False) + "\n"
