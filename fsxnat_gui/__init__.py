"""fsxnat-gui: import FreeSurfer recon-all results into XNAT, verified against the server.

The single source of the application's names: read by app.py, the CLI, the keyring service
name, the PyInstaller spec and the desktop metadata in resources/.
"""

__version__ = "0.1.0"
APP_ID = "org.fsxnat.FsXnat"
APP_NAME = "fsxnat-gui"
APP_DISPLAY_NAME = "FreeSurfer to XNAT"
ORG_NAME = "fsxnat"
USER_AGENT = f"fsxnat-gui/{__version__}"
