"""Run app.py with the network guard installed: how tests start a real server."""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

from tests.support import netguard

if __name__ == "__main__":
    netguard.install()
    app_path = Path(__file__).resolve().parents[2] / "app.py"
    sys.argv = [str(app_path), *sys.argv[1:]]
    runpy.run_path(str(app_path), run_name="__main__")
