"""``python -m sts`` is the ``sts`` command."""

from sts.cli import main

main()
