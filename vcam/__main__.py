"""``python -m vcam``: the ``phnet-cam`` command line."""

import sys

from vcam.commands import main

sys.exit(main())
