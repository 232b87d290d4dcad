#!/usr/bin/python3
"""Writes models/dequnmix_pipeline.model3, the Processing model shipped with the plugin.

Run with Debian's Python (PyQGIS), with the built plugin folder:
    QT_QPA_PLATFORM=offscreen /usr/bin/python3 models/generate_pipeline_model.py \
        build-app/plugin/dequnmix/libdequnmix_qgis.so models/dequnmix_pipeline.model3

The model chains dequnmix:synthesize -> dequnmix:vca -> dequnmix:train -> dequnmix:evaluate:
a synthetic scene with known endmembers and abundances, VCA endmembers as the start of
DEQ-Unmix training, and the trained abundances and endmembers scored against the truth.
The committed .model3 is the output of this script; regenerate it after changing the
algorithms' parameters.
"""

import ctypes
import sys

from qgis.PyQt.QtCore import QPointF
from qgis.core import (QgsApplication, QgsProcessingModelAlgorithm,
                       QgsProcessingModelChildAlgorithm,
                       QgsProcessingModelChildParameterSource as Source,
                       QgsProcessingModelOutput, QgsProcessingModelParameter,
                       QgsProcessingParameterNumber)

NAME = "DEQ-Unmix synthetic pipeline"
GROUP = "DEQ-Unmix"


def main(library, destination):
    app = QgsApplication([], False)
    app.initQgis()
    lib = ctypes.CDLL(library)
    if lib.dequnmix_register_provider() < 0:
        raise SystemExit("cannot register the dequnmix provider")

    model = QgsProcessingModelAlgorithm(NAME, GROUP)
    model.setHelpContent({
        "ALG_DESC": "Synthetic scene -> VCA endmembers -> DEQ-Unmix training -> evaluation "
                    "against the scene's reference abundances and endmembers. Outputs: the "
                    "DEQ-Unmix abundances, learned endmembers, model, HTML training report "
                    "and the evaluation table (mSAD, aRMSE per endmember).",
        "ALG_CREATOR": "DEQ-Unmix contributors",
    })

    def number(name, description, default, minimum, integer=True, y=0):
        kind = QgsProcessingParameterNumber.Integer if integer else QgsProcessingParameterNumber.Double
        definition = QgsProcessingParameterNumber(name, description, kind, default, False, minimum)
        component = QgsProcessingModelParameter(name)
        component.setPosition(QPointF(120, 60 + 60 * y))
        model.addModelParameter(definition, component)

    number("WIDTH", "Scene width (pixels)", 64, 8, y=0)
    number("HEIGHT", "Scene height (pixels)", 64, 8, y=1)
    number("BANDS", "Number of bands", 100, 3, y=2)
    number("ENDMEMBERS", "Number of endmembers", 4, 2, y=3)
    number("SNR_DB", "Signal-to-noise ratio (dB, 0 = noise-free)", 30.0, 0.0, integer=False, y=4)
    number("EPOCHS", "Training epochs", 300, 1, y=5)
    number("SEED", "Random seed", 42, 0, y=6)

    def child(algorithm, child_id, description, x, y, sources, outputs=None):
        c = QgsProcessingModelChildAlgorithm(algorithm)
        c.setChildId(child_id)
        c.setDescription(description)
        c.setPosition(QPointF(x, y))
        for name, source in sources.items():
            c.addParameterSources(name, [source])
        if outputs:
            model_outputs = {}
            for output_name, (child_output, description_text) in outputs.items():
                o = QgsProcessingModelOutput(output_name, description_text)
                o.setChildId(child_id)
                o.setChildOutputName(child_output)
                o.setDescription(description_text)
                o.setPosition(QPointF(x + 220, y + 40 * (len(model_outputs) + 1)))
                model_outputs[output_name] = o
            c.setModelOutputs(model_outputs)
        model.addChildAlgorithm(c)

    param = Source.fromModelParameter
    static = Source.fromStaticValue
    out = Source.fromChildOutput
    child("dequnmix:synthesize", "synthesize", "Synthesize scene", 420, 80, {
        "WIDTH": param("WIDTH"), "HEIGHT": param("HEIGHT"), "BANDS": param("BANDS"),
        "ENDMEMBERS": param("ENDMEMBERS"), "SNR_DB": param("SNR_DB"),
        "MAX_ABUNDANCE": static(0.8), "PURE_PIXELS": static(False), "SEED": param("SEED"),
    })
    child("dequnmix:vca", "vca", "VCA endmembers", 420, 220, {
        "INPUT": out("synthesize", "OUTPUT"), "ENDMEMBERS": param("ENDMEMBERS"),
        "SEED": param("SEED"),
    })
    child("dequnmix:train", "train", "Train DEQ-Unmix", 420, 360, {
        "INPUT": out("synthesize", "OUTPUT"), "INITIAL_ENDMEMBERS": out("vca", "OUTPUT_ENDMEMBERS"),
        "ENDMEMBERS": param("ENDMEMBERS"), "EPOCHS": param("EPOCHS"), "SEED": param("SEED"),
        "THREADS": static(0),
    }, {
        "abundances": ("OUTPUT", "DEQ-Unmix abundances"),
        "endmembers": ("OUTPUT_ENDMEMBERS", "DEQ-Unmix endmembers"),
        "model": ("OUTPUT_MODEL", "DEQ-Unmix model"),
        "report": ("OUTPUT_REPORT", "DEQ-Unmix training report"),
    })
    child("dequnmix:evaluate", "evaluate", "Evaluate against the reference", 420, 520, {
        "ABUNDANCES": out("train", "OUTPUT"),
        "REFERENCE_ABUNDANCES": out("synthesize", "OUTPUT_ABUNDANCES"),
        "ENDMEMBERS": out("train", "OUTPUT_ENDMEMBERS"),
        "REFERENCE_ENDMEMBERS": out("synthesize", "OUTPUT_ENDMEMBERS"),
    }, {
        "evaluation": ("OUTPUT_TABLE", "Evaluation table"),
    })
    if not model.toFile(destination):
        raise SystemExit("cannot write " + destination)
    check = QgsProcessingModelAlgorithm()
    if not check.fromFile(destination):
        raise SystemExit("the written model does not load")
    print("wrote", destination, "parameters:",
          [p.name() for p in check.parameterDefinitions()])
    app.exitQgis()


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    main(sys.argv[1], sys.argv[2])
