"""The step package of the support table's code specs (pipeline-code*.yaml)."""
