"""``python -m autotune``: the ``autotune`` command."""

from .cli import main

raise SystemExit(main())
