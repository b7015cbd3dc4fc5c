"""``python -m tracklite``: the same as the ``tracklite`` command."""

from tracklite.cli import main

main()
