"""Runs inside QGIS desktop (qgis --code <this file>), started by run_desktop_test.sh under
Xvfb with a throwaway profile in which the dequnmix plugin is enabled.

Checks that the provider, its algorithms and the shipped model are in the Processing
registry, opens the "Train DEQ-Unmix" dialog (non-blocking), saves a screenshot of it,
writes the findings as JSON to $DEQUNMIX_DESKTOP_RESULT and quits QGIS.
"""

import json
import os
import traceback

from qgis.core import QgsApplication
from qgis.PyQt.QtCore import QTimer

RESULT = os.environ["DEQUNMIX_DESKTOP_RESULT"]
SCREENSHOT = os.environ["DEQUNMIX_DESKTOP_SCREENSHOT"]
EXPECTED = ["dequnmix:synthesize", "dequnmix:vca", "dequnmix:fcls", "dequnmix:evaluate",
            "dequnmix:train", "dequnmix:unmix"]
MODEL_ID = "model:DEQ-Unmix synthetic pipeline"

state = {"ok": False, "errors": []}
_keep = []  # Python references to the dialog and timers


def write_and_quit():
    with open(RESULT + ".part", "w") as f:
        json.dump(state, f, indent=2)
    os.replace(RESULT + ".part", RESULT)
    QTimer.singleShot(200, QgsApplication.instance().quit)


def check_registry():
    registry = QgsApplication.processingRegistry()
    provider = registry.providerById("dequnmix")
    state["provider"] = provider.name() if provider else None
    state["algorithms"] = sorted(a.id() for a in provider.algorithms()) if provider else []
    state["missing"] = [a for a in EXPECTED if registry.algorithmById(a) is None]
    state["model_in_toolbox"] = registry.algorithmById(MODEL_ID) is not None
    if provider is None:
        state["errors"].append("provider dequnmix is not registered")
    if state["missing"]:
        state["errors"].append("missing algorithms: " + ", ".join(state["missing"]))


def open_dialog():
    import processing  # QGIS' Processing plugin (desktop)
    dialog = processing.createAlgorithmDialog("dequnmix:train", {})
    if dialog is None:
        raise RuntimeError("createAlgorithmDialog returned None")
    dialog.show()
    _keep.append(dialog)
    state["dialog_title"] = dialog.windowTitle()
    QTimer.singleShot(1500, lambda: grab(dialog))


def grab(dialog):
    try:
        dialog.raise_()
        pixmap = dialog.grab()
        state["screenshot"] = SCREENSHOT if pixmap.save(SCREENSHOT, "PNG") else None
        state["screenshot_size"] = [pixmap.width(), pixmap.height()]
        state["dialog_visible"] = dialog.isVisible()
        if not state["screenshot"]:
            state["errors"].append("could not save the screenshot")
        dialog.close()
    except Exception:  # noqa: BLE001 (report everything to the test)
        state["errors"].append(traceback.format_exc())
    state["ok"] = not state["errors"]
    write_and_quit()


def main():
    try:
        check_registry()
        open_dialog()
    except Exception:  # noqa: BLE001
        state["errors"].append(traceback.format_exc())
        write_and_quit()


# Let the main window and the plugins finish starting first; give up after 90 s.
QTimer.singleShot(1000, main)
_watchdog = QTimer()
_watchdog.setSingleShot(True)
_watchdog.timeout.connect(lambda: (state["errors"].append("timeout"), write_and_quit()))
_watchdog.start(90000)
_keep.append(_watchdog)
