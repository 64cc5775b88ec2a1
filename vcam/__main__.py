"""``python -m vcam``: the ``phnet-cam`` command line."""

import sys

from vcam.cli import main

sys.exit(main())
