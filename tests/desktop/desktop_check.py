"""Runs inside QGIS desktop (qgis --code <this file>), started by run_desktop_test.sh under
Xvfb with a throwaway profile in which the dequnmix plugin is enabled.

Checks that the provider, its algorithms and the shipped model are in the Processing
registry, opens the "Train DEQ-Unmix" dialog (non-blocking), saves a screenshot of it,
then runs synthesize and fcls with the results loaded as a user's run loads them and saves
a screenshot of the map canvas showing the abundance output in its default style
($DEQUNMIX_DESKTOP_CANVAS), writes the findings as JSON to $DEQUNMIX_DESKTOP_RESULT and
quits QGIS.
"""

import json
import os
import traceback

from qgis.core import QgsApplication
from qgis.PyQt.QtCore import QTimer

RESULT = os.environ["DEQUNMIX_DESKTOP_RESULT"]
SCREENSHOT = os.environ["DEQUNMIX_DESKTOP_SCREENSHOT"]
CANVAS = os.environ["DEQUNMIX_DESKTOP_CANVAS"]
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
        show_abundances()
    except Exception:  # noqa: BLE001 (report everything to the test)
        state["errors"].append(traceback.format_exc())
        state["ok"] = False
        write_and_quit()


def show_abundances():
    """FCLS abundances of a synthetic scene, loaded into the project with their default
    style; the canvas is grabbed once it has drawn them."""
    import tempfile
    import processing
    from qgis.core import QgsProject
    from qgis.utils import iface
    work = tempfile.mkdtemp(prefix="dequnmix_desktop_")
    scene, endmembers = os.path.join(work, "scene.tif"), os.path.join(work, "endmembers.csv")
    processing.run("dequnmix:synthesize", {
        "WIDTH": 96, "HEIGHT": 64, "BANDS": 30, "ENDMEMBERS": 3, "SEED": 4, "OUTPUT": scene,
        "OUTPUT_ABUNDANCES": os.path.join(work, "reference.tif"),
        "OUTPUT_ENDMEMBERS": endmembers})
    processing.runAndLoadResults("dequnmix:fcls", {
        "INPUT": scene, "ENDMEMBERS": endmembers, "OUTPUT": os.path.join(work, "abundances.tif")})
    layers = [l for l in QgsProject.instance().mapLayers().values()
              if l.source().endswith("abundances.tif")]
    if not layers:
        raise RuntimeError("the abundance output was not loaded into the project")
    state["abundance_renderer"] = layers[0].renderer().type() if layers[0].renderer() else None
    canvas = iface.mapCanvas()
    canvas.setExtent(layers[0].extent())
    canvas.refresh()
    QTimer.singleShot(3000, lambda: grab_canvas(canvas))


def grab_canvas(canvas):
    try:
        pixmap = canvas.grab()
        state["canvas_screenshot"] = CANVAS if pixmap.save(CANVAS, "PNG") else None
        if not state["canvas_screenshot"]:
            state["errors"].append("could not save the canvas screenshot")
    except Exception:  # noqa: BLE001
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
