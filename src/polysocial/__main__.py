"""`python -m polysocial` is the `polysocial` command."""

from polysocial.cli import main

main()
