"""`python -m fsxnat_gui` starts the desktop application."""

from fsxnat_gui.app import main

raise SystemExit(main())
