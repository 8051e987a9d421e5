"""`python -m geomflow …` is the `geomflow` command."""

import sys

from .cli import main

sys.exit(main())
