"""Shows the Processing models shipped in this plugin folder (models/*.model3) in the
toolbox's "Models" provider (id "model"), in QGIS desktop and in qgis_process.

QGIS 3.22's model provider (processing/modeler/ModelerAlgorithmProvider.py) reloads its
algorithms from the user's models folders whenever a provider is added or the folders
change, which would drop anything added once. So the models are added again after every
reload (the provider's algorithmsLoaded signal), and the provider is hooked as soon as it
appears (desktop loads the Processing plugin and this one in no fixed order). Nothing is
copied into the user's profile: disabling the plugin takes the models away again.
The same files run directly: `qgis_process.bin run <plugin folder>/models/<name>.model3`.
"""

import glob
import os

from qgis.core import QgsApplication, QgsProcessingModelAlgorithm

MODEL_PROVIDER_ID = "model"
MODELS_FOLDER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "models")

_hooked = []  # (provider, slot) pairs connected to algorithmsLoaded
_registry_hooked = False


def model_files():
    """The shipped .model3 files, sorted."""
    return sorted(glob.glob(os.path.join(MODELS_FOLDER, "*.model3")))


def _add_models(provider):
    for path in model_files():
        model = QgsProcessingModelAlgorithm()
        if not model.fromFile(path) or not model.name():
            continue
        if provider.algorithm(model.name()) is not None:
            continue
        model.setSourceFilePath(path)
        provider.addAlgorithm(model)


def _hook(provider):
    if any(p is provider for p, _ in _hooked):
        return
    slot = lambda: _add_models(provider)  # noqa: E731
    provider.algorithmsLoaded.connect(slot)
    _hooked.append((provider, slot))
    _add_models(provider)


def _on_provider_added(provider_id):
    if provider_id == MODEL_PROVIDER_ID:
        provider = QgsApplication.processingRegistry().providerById(MODEL_PROVIDER_ID)
        if provider is not None:
            _hook(provider)


def install():
    """Adds the shipped models to the "model" provider now and after each of its reloads."""
    global _registry_hooked
    registry = QgsApplication.processingRegistry()
    if not _registry_hooked:
        registry.providerAdded.connect(_on_provider_added)
        _registry_hooked = True
    provider = registry.providerById(MODEL_PROVIDER_ID)
    if provider is not None:
        _hook(provider)


def uninstall():
    """Stops adding the models and reloads the model provider without them."""
    global _registry_hooked
    registry = QgsApplication.processingRegistry()
    if _registry_hooked:
        try:
            registry.providerAdded.disconnect(_on_provider_added)
        except TypeError:
            pass
        _registry_hooked = False
    while _hooked:
        provider, slot = _hooked.pop()
        try:
            provider.algorithmsLoaded.disconnect(slot)
            provider.refreshAlgorithms()
        except (TypeError, RuntimeError):
            pass
