"""Running git for `mlspec diff`: one place that bounds it and words its failures."""

from __future__ import annotations

import subprocess


class GitFailed(Exception):
    """git is missing, or said no; the message is git's own."""


def git(*args: str) -> bytes:
    try:
        done = subprocess.run(["git", *args], capture_output=True, check=False, timeout=60)
    except FileNotFoundError:
        raise GitFailed("git is not installed") from None
    if done.returncode != 0:
        raise GitFailed(f"git {' '.join(args)}: {done.stderr.decode(errors='replace').strip()}")
    return done.stdout
