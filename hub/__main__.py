"""``python -m hub`` is the ``hookhub`` command."""

from hub.cli import main

main()
