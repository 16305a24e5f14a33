"""``python -m fraudstream`` runs the console command."""

from fraudstream.cli import main

raise SystemExit(main())
