"""`python -m tinygrad_gd` is the same as the `tinygrad-gd` command."""

from .cli import main

raise SystemExit(main())
