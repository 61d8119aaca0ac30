"""`python -m fsxnat_gui.cli`."""

import sys

from fsxnat_gui.cli.main import main

sys.exit(main())
