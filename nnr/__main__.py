"""``python -m nnr``: the command-line tool."""

from nnr.cli import main

raise SystemExit(main())
