"""QGIS plugin "dequnmix": loads the DEQ-Unmix Processing provider.

The provider and its algorithms live in a C++ library next to this file
(libdequnmix_qgis.so). QGIS and qgis_process load C++ Processing providers only through
plugins, so this small Python plugin loads the library with ctypes and calls its exported
registration function, which adds the provider "dequnmix" to
QgsApplication.processingRegistry() (idempotently).

qgis_process calls classFactory() then initProcessing(); QGIS desktop calls classFactory()
then initGui(), and unload() when the plugin is disabled.
"""

import ctypes
import os

LIBRARY_NAME = "libdequnmix_qgis.so"

_library = None


def library_path():
    """Absolute path of the provider library shipped in this plugin folder."""
    return os.path.join(os.path.dirname(os.path.abspath(__file__)), LIBRARY_NAME)


def load_library():
    """Loads the provider library once (ctypes.CDLL, default RTLD_LOCAL) and returns it."""
    global _library
    if _library is None:
        path = library_path()
        if not os.path.isfile(path):
            raise RuntimeError("dequnmix: provider library not found: {}".format(path))
        try:
            library = ctypes.CDLL(path)
        except OSError as error:
            raise RuntimeError(
                "dequnmix: cannot load {} ({}). Is the LibTorch runtime installed?".format(
                    path, error)) from error
        library.dequnmix_register_provider.restype = ctypes.c_int
        library.dequnmix_register_provider.argtypes = []
        library.dequnmix_unregister_provider.restype = ctypes.c_int
        library.dequnmix_unregister_provider.argtypes = []
        library.dequnmix_version.restype = ctypes.c_char_p
        library.dequnmix_version.argtypes = []
        _library = library
    return _library


def register_provider():
    """Adds the "dequnmix" provider to the processing registry (no-op when present)."""
    result = load_library().dequnmix_register_provider()
    if result < 0:
        raise RuntimeError("dequnmix: the Processing provider could not be registered")
    return result


def expose_models():
    """Shows the shipped models (models/*.model3) in the toolbox's Models provider."""
    try:
        from . import processing_models
        processing_models.install()
    except Exception as error:  # noqa: BLE001 (the provider works without the models)
        from qgis.core import Qgis, QgsMessageLog
        QgsMessageLog.logMessage("dequnmix: models not added: {}".format(error), "Processing",
                                 Qgis.Warning)


class DequnmixPlugin:
    """Minimal plugin object: the provider is all this plugin adds."""

    def __init__(self, iface=None):
        self.iface = iface

    def initProcessing(self):  # noqa: N802 (QGIS API name)
        register_provider()
        expose_models()

    def initGui(self):  # noqa: N802 (QGIS API name)
        self.initProcessing()

    def unload(self):
        try:
            from . import processing_models
            processing_models.uninstall()
        except Exception:  # noqa: BLE001 (the models are optional)
            pass
        if _library is not None:
            _library.dequnmix_unregister_provider()


def classFactory(iface):  # noqa: N802 (QGIS API name)
    return DequnmixPlugin(iface)
