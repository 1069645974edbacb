"""Helpers shared by the tests (`from support import generated`; tests/ is on pytest's
pythonpath). Test files hold tests; anything two of them use lives here. specs/ holds data."""
