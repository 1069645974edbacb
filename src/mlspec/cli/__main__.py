"""`python -m mlspec.cli`: the `mlspec` command."""

from mlspec.cli import main

main()
