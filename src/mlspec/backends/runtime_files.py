"""The runtime package beside a generated DAG or flow file, and the code that loads it.

Airflow and Prefect run their tasks in a Python worker that reads the generated file from a
folder; the runtime's modules go into that folder as one more artifact, a package named by the
hash of its content (`embed.package`), which the generated file loads by path when a task first
runs. Tracebacks then show the runtime's real file and line.
"""

from __future__ import annotations

from mlspec.backends.base import Artifact
from mlspec.backends.pysource import Code, literal
from mlspec.runtime import embed


def package(modules: tuple[str, ...]) -> embed.Package:
    return embed.package(embed.needed_modules(modules))


def artifacts(pkg: embed.Package, *, airflow: bool = False) -> list[Artifact]:
    return [Artifact(path, text) for path, text in embed.folder_files(pkg, airflow=airflow)]


def loader(pkg: embed.Package) -> Code:
    """`_mlspec_runtime(module)`: the runtime module, imported from the package beside the file.

    Loaded by path, not through `sys.path`: the worker's path need not hold this folder.
    """
    return Code(
        f"_MLSPEC_RUNTIME = {literal(pkg.name)}\n"
        "\n"
        "\n"
        "@functools.cache\n"
        "def _mlspec_runtime(module: str = 'tasks') -> types.ModuleType:\n"
        "    if _MLSPEC_RUNTIME not in sys.modules:\n"
        "        here = os.path.dirname(os.path.abspath(__file__))\n"
        "        folder = os.path.join(here, _MLSPEC_RUNTIME)\n"
        "        spec = importlib.util.spec_from_file_location(\n"
        "            _MLSPEC_RUNTIME,\n"
        "            os.path.join(folder, '__init__.py'),\n"
        "            submodule_search_locations=[folder],\n"
        "        )\n"
        "        package = importlib.util.module_from_spec(spec)\n"
        "        sys.modules[_MLSPEC_RUNTIME] = package\n"
        "        spec.loader.exec_module(package)\n"
        "    return importlib.import_module(f'{_MLSPEC_RUNTIME}.{module}')"
    )
