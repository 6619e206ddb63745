"""``python -m finassist.cli``."""

from finassist.cli import main

main()
