"""``python -m doctor_core.cli``: the ``doctor`` console script."""

from doctor_core.cli import main

main()
