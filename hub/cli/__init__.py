"""The ``hookhub`` command (a Flask click group): ``hub.cli:main`` is the console script."""

from hub.cli.main import build_cli, main

__all__ = ["build_cli", "main"]
