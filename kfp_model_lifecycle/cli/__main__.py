"""``python -m kfp_model_lifecycle.cli``: the ``kml`` command."""

import sys

from kfp_model_lifecycle.cli.main import main

sys.exit(main())
