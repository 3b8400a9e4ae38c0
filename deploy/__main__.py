"""`python -m deploy` is the `dost` command."""

from deploy.cli import main

main()
