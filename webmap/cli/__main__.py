"""``python -m webmap.cli``: the ``qpv`` command line."""

from webmap.cli import main

main()
