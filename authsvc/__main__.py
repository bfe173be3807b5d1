"""``python -m authsvc``: the same as the ``authsvc`` command."""

from __future__ import annotations

import sys

from authsvc.cli import main

sys.exit(main())
