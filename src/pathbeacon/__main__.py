"""``python -m pathbeacon``: the same as the ``pathbeacon`` command."""

from .cli import main

raise SystemExit(main())
