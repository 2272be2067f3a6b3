"""`python -m covetpy` is the `covetpy` command."""

from covetpy.cli import main

main()
