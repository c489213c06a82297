"""`python -m crawler.cli`: the `veille` command."""

from crawler.cli import main

main()
