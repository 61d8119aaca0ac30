"""`python -m fsxnat_gui.localxnat`: the same as the `fsxnat-localxnat` command."""

import sys

from .cli import main

sys.exit(main())
