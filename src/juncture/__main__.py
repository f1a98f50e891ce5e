"""``python -m juncture`` runs the CLI."""

from juncture.cli import main

main()
