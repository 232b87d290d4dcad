#!/usr/bin/python3
"""End to end through qgis_process.bin (issue 4), with a throwaway HOME and the staged
plugin folder: `help` for dequnmix:train and dequnmix:unmix, train then unmix with --json,
the shipped model listed in the toolbox's Models and run as a .model3 file, and a corrupt
model failing cleanly.

Usage: test_train_unmix_e2e.py BUILD_DIR
"""

import os
import signal
import subprocess
import sys
import tempfile
import time

# The qgis_process.bin driver and check() of the classical end-to-end tests (same folder).
from test_qgis_process import QgisProcess, check

QGIS_PROCESS = "/usr/bin/qgis_process.bin"
MODEL_NAME = "DEQ-Unmix synthetic pipeline"
TIMEOUT = 600


def main(build):
    plugin_parent = os.path.join(build, "plugin")
    model3 = os.path.join(plugin_parent, "dequnmix", "models", "dequnmix_pipeline.model3")
    with tempfile.TemporaryDirectory() as work:
        qp = QgisProcess(QGIS_PROCESS, plugin_parent, work)
        qp.env["OMP_NUM_THREADS"] = "2"
        out = os.path.join(work, "out")
        os.makedirs(out)

        def run_json(algorithm, parameters):
            return qp.run(algorithm, parameters, timeout=TIMEOUT)["results"]

        qp.enable_plugin()

        # help
        for alg, words in (("dequnmix:train", ["OUTPUT_MODEL", "OUTPUT_REPORT", "EPOCHS",
                                                "GRADIENT", "FINAL_LOSS"]),
                           ("dequnmix:unmix", ["MODEL", "TILE_SIZE", "HALO",
                                                "MEAN_RESIDUAL_RMSE"])):
            proc = qp.call("help", alg)
            check(proc.returncode == 0, "help %s failed" % alg)
            text = proc.stdout
            for w in words:
                check(w in text, "help %s lacks %s" % (alg, w))
        print("help: ok")

        # list shows the model in the toolbox's Models
        proc = qp.call("list")
        check(proc.returncode == 0, "list failed")
        listing = proc.stdout
        check("model:" + MODEL_NAME in listing, "the shipped model is not listed:\n" + listing[-2000:])
        print("list: model:%s present" % MODEL_NAME)

        # synthesize -> train -> unmix with --json
        j = lambda *parts: os.path.join(out, *parts)  # noqa: E731
        run_json("dequnmix:synthesize", {
            "WIDTH": 16, "HEIGHT": 16, "BANDS": 20, "ENDMEMBERS": 3, "SNR_DB": 40,
            "MAX_ABUNDANCE": 1, "PURE_PIXELS": "true", "SEED": 3, "OUTPUT": j("scene.tif"),
            "OUTPUT_ABUNDANCES": j("ref.tif"), "OUTPUT_ENDMEMBERS": j("ref.csv")})
        train = run_json("dequnmix:train", {
            "INPUT": j("scene.tif"), "ENDMEMBERS": 3, "EPOCHS": 2, "THREADS": 2,
            "MAX_ITERATIONS": 4, "BACKWARD_MAX_ITERATIONS": 6, "HIDDEN_CHANNELS": 8,
            "OUTPUT_MODEL": j("model.dequnmix"), "OUTPUT": j("train.tif"),
            "OUTPUT_ENDMEMBERS": j("endmembers.csv"), "OUTPUT_RESIDUAL": j("residual.tif"),
            "OUTPUT_REPORT": j("report.html")})
        for key in ("OUTPUT_MODEL", "OUTPUT", "OUTPUT_ENDMEMBERS", "OUTPUT_RESIDUAL",
                    "OUTPUT_REPORT"):
            check(os.path.isfile(train[key]), "train %s missing: %s" % (key, train.get(key)))
        for key in ("FINAL_LOSS", "MEAN_ITERATIONS", "CONVERGED_FRACTION", "TRAINING_SECONDS"):
            check(isinstance(train.get(key), (int, float)), "train %s: %r" % (key, train.get(key)))
        print("train: ok", {k: train[k] for k in ("FINAL_LOSS", "MEAN_ITERATIONS")})
        unmix = run_json("dequnmix:unmix", {
            "INPUT": j("scene.tif"), "MODEL": j("model.dequnmix"), "TILE_SIZE": 8, "HALO": 4,
            "THREADS": 2, "OUTPUT": j("unmix.tif"), "OUTPUT_RESIDUAL": j("unmix_residual.tif")})
        check(os.path.isfile(unmix["OUTPUT"]), "unmix OUTPUT missing")
        check(os.path.isfile(unmix["OUTPUT_RESIDUAL"]), "unmix OUTPUT_RESIDUAL missing")
        for key in ("MEAN_RESIDUAL_RMSE", "MEAN_ITERATIONS", "CONVERGED_FRACTION"):
            check(isinstance(unmix.get(key), (int, float)), "unmix %s: %r" % (key, unmix.get(key)))
        print("unmix: ok", unmix["MEAN_RESIDUAL_RMSE"])

        # a corrupt model fails with a clear message and writes nothing
        data = bytearray(open(j("model.dequnmix"), "rb").read())
        data[len(data) // 2] ^= 0x5A
        open(j("corrupt.dequnmix"), "wb").write(bytes(data))
        bad = qp.run("dequnmix:unmix", {"INPUT": j("scene.tif"), "MODEL": j("corrupt.dequnmix"),
                                        "OUTPUT": j("bad.tif")}, expect_success=False)
        check("MODEL" in bad.stdout + bad.stderr, "no clear message: " + bad.stdout + bad.stderr)
        check(not os.path.exists(j("bad.tif")), "a corrupt model left an output")
        print("corrupt model: fails cleanly")

        # Ctrl-C (SIGINT) cancels a training run as the toolbox's Cancel does and leaves
        # nothing behind (issue 9, item 11).
        stopped = os.path.join(out, "stopped")
        args = [QGIS_PROCESS, "run", "dequnmix:train", "--INPUT=" + j("scene.tif"),
                "--ENDMEMBERS=3", "--EPOCHS=100000", "--THREADS=1",
                "--OUTPUT_MODEL=" + os.path.join(stopped, "m.dequnmix"),
                "--OUTPUT=" + os.path.join(stopped, "a.tif"),
                "--OUTPUT_ENDMEMBERS=" + os.path.join(stopped, "e.csv")]
        proc = subprocess.Popen(args, env=qp.env, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)
        deadline = time.time() + 120
        while time.time() < deadline and not (os.path.isdir(stopped) and os.listdir(stopped)):
            time.sleep(0.2)
        time.sleep(2)  # into the epochs
        check(proc.poll() is None, "the long training ended by itself")
        started = time.time()
        proc.send_signal(signal.SIGINT)
        log, _ = proc.communicate(timeout=120)
        check(proc.returncode != 0, "an interrupted run reported success:\n" + log[-2000:])
        check("Canceled" in log, "no cancel message:\n" + log[-2000:])
        check(os.listdir(stopped) == [], "left behind: %r" % os.listdir(stopped))
        print("SIGINT: canceled in %.1f s, nothing left" % (time.time() - started))

        # a repeated --BANDS, as a shell user types it (item 9)
        run_json("dequnmix:vca", {"INPUT": j("scene.tif"), "BANDS": ["1-10", "11,12"],
                                  "ENDMEMBERS": 3, "OUTPUT_ENDMEMBERS": j("bands.csv")})
        rows = open(j("bands.csv")).read().strip().splitlines()
        check(len(rows) == 13, "BANDS 1-10 and 11,12 should give 12 rows: %r" % rows[:3])
        print("repeated BANDS: ok")

        # the shipped model, run as a .model3 file
        check(os.path.isfile(model3), "model not staged: " + model3)
        m = os.path.join(out, "model")
        results = run_json(model3, {
            "WIDTH": 16, "HEIGHT": 16, "BANDS": 20, "ENDMEMBERS": 3, "SNR_DB": 30, "EPOCHS": 2,
            "SEED": 1, "train:abundances": os.path.join(m, "abundances.tif"),
            "train:endmembers": os.path.join(m, "endmembers.csv"),
            "train:model": os.path.join(m, "model.dequnmix"),
            "train:report": os.path.join(m, "report.html"),
            "evaluate:evaluation": os.path.join(m, "evaluation.csv")})
        for key in ("train:abundances", "train:endmembers", "train:model", "train:report",
                    "evaluate:evaluation"):
            check(os.path.isfile(results.get(key, "")), "model output %s missing" % key)
        rows = open(os.path.join(m, "evaluation.csv")).read().strip().splitlines()
        check(len(rows) == 4 and rows[0].startswith("endmember"), "evaluation table: %r" % rows)
        print("model3 run: ok")
    print("PASS")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    main(os.path.abspath(sys.argv[1]))
