"""The core, the CLI and the local server must work without Qt (on a cluster node, in CI)."""

import subprocess
import sys


def test_core_cli_and_server_do_not_import_qt() -> None:
    code = (
        "import sys, importlib, pkgutil\n"
        "import fsxnat_gui.core as core\n"
        "for m in pkgutil.iter_modules(core.__path__):\n"
        "    importlib.import_module('fsxnat_gui.core.' + m.name)\n"
        "import fsxnat_gui.cli, fsxnat_gui.localxnat, fsxnat_gui.samples\n"
        "assert not [m for m in sys.modules if m.startswith('PySide6')], 'Qt was imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
