"""The IR file's text: kfp's pipeline spec, written by mlspec's YAML emitter.

kfp's own writer (`Compiler().compile`) copies string parameter defaults raw into the file's
header comment, so a line break in a default ends the comment and the rest of the default
becomes YAML (a key of the IR, or a file no reader can parse); and its PyYAML dumper leaves
`y`, `1e3` or `0o17` unquoted, which go-yaml v2 or YAML 1.2 readers take for a bool or a number.
This writes the same file (header, then the pipeline spec and the platform spec when there is
one, keys sorted, kfp's line width) with every text in the header escaped where a YAML reader
would end the comment or refuse it, and the documents through `yamlout`. kfp's loader reads the
description back from the header's third line.
"""

from __future__ import annotations

import json
from typing import Any

import yaml
from google.protobuf import json_format
from kfp.dsl.types.type_utils import IR_TYPE_TO_COMMENT_TYPE_STRING as TYPE_NAMES

from mlspec.backends import yamlout
from mlspec.backends.pysource import comment


def render(func: Any) -> str:
    """The IR file of a kfp pipeline function (a GraphComponent), as `Compiler().compile`
    would write it with no overrides."""
    spec = json_format.MessageToDict(func.pipeline_spec)
    documents = [spec]
    if func.platform_spec.platforms:
        documents.append(json_format.MessageToDict(func.platform_spec))
    text = header(spec, func.description) + yamlout.dump(*documents, layout=yamlout.KFP)
    # kfp (and the upload path) reads the file with PyYAML: it must read the spec, all of it.
    # (libyaml's parser, where PyYAML has it, reads a large IR 3-4x faster.)
    read = yaml.load_all(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    if _canonical(list(read)) != _canonical(documents):
        raise RuntimeError("the KFP IR file does not read back as its pipeline spec")
    return text


def header(spec: dict[str, Any], description: str | None) -> str:
    """kfp's header comment: name, description, then the pipeline's inputs and outputs."""
    lines = ["PIPELINE DEFINITION", f"Name: {comment(spec['pipelineInfo']['name'])}"]
    if description:
        first, *more = [comment(line) for line in description.splitlines()]
        lines.append(f"Description: {first}")
        lines += [" " * 13 + line for line in more]  # kfp's loader reads "#" and 14 spaces
    for key, title in (("inputDefinitions", "Inputs:"), ("outputDefinitions", "Outputs:")):
        if key in spec["root"]:
            lines.append(title)
            lines += _signature(spec["root"][key])
    return "".join(f"# {line}\n" for line in lines)


def _signature(definitions: dict[str, Any]) -> list[str]:
    entries = []
    for name, body in definitions.get("parameters", {}).items():
        entry = f"{comment(name)}: {TYPE_NAMES[body['parameterType']]}"
        if "defaultValue" in body:
            default = body["defaultValue"]
            shown = f"'{default}'" if isinstance(default, str) else str(default)
            entry += f" [Default: {comment(shown)}]"
        entries.append((name, entry))
    for name, body in definitions.get("artifacts", {}).items():
        entries.append((name, f"{comment(name)}: {comment(body['artifactType']['schemaTitle'])}"))
    return ["   " + entry for _, entry in sorted(entries, key=lambda e: e[0])]


def _canonical(documents: list[Any]) -> str:
    """Equal only for equal data of equal types (True is not 1, '1' is not 1, NaN is NaN)."""
    return json.dumps(documents, sort_keys=True, default=repr)
