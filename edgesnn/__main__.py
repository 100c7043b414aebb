"""``python -m edgesnn`` (also what ``torchrun -m edgesnn train ...`` runs)."""

import sys

from edgesnn.cli.main import main

sys.exit(main())
