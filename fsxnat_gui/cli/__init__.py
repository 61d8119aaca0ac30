"""`fsxnat`: the command line over the core.

    fsxnat scan SUBJECTS_DIR [--json]
    fsxnat import SUBJECTS_DIR (--server URL --user NAME | --config FILE) --project P [options]

`import` prints the plan compared with the server, asks for confirmation (or `--yes`), imports
with a progress bar and exits 0 only if every selected subject was verified on the server.
Exit codes: 0 all verified, 1 an error or a subject not verified, 2 a bad command line or a plan
that cannot run (invalid labels, conflicts), 130 cancelled (Ctrl-C).

The password never comes from the command line: the OS keyring, then XNAT_PASS, then a prompt
on a terminal; or a pyxnat JSON config file (server, user, password).
"""

from __future__ import annotations

from fsxnat_gui.cli.main import build_parser, main

__all__ = ["build_parser", "main"]
