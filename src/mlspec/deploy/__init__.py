"""`mlspec deploy`: a compiled spec to a running orchestrator (see common.py)."""
