"""``python -m rdlab.cli``: the ``rdlab`` command without its console script."""

from __future__ import annotations

import sys

from rdlab.cli import main

sys.exit(main())
