#!/usr/bin/python3
"""End-to-end tests of the dequnmix plugin through qgis_process.bin.

Each case runs qgis_process.bin with its own temporary HOME (so no user profile is
touched) and QGIS_PLUGINPATH pointing at the staged plugin folder's parent, enables the
plugin, and drives the algorithms like a user would.

Usage: test_qgis_process.py CASE --qgis-process BIN --plugin-path DIR [--samson DIR]
CASE: cli (enable, list, help, bad input), pipeline (synthesize -> vca -> fcls ->
evaluate on a noise-free synthetic scene), samson (the same pipeline on the Samson scene,
and train's endmembers; exit code 77 = skipped when the data is absent), data_parallel
(train as two ranks and unmix as three on 127.0.0.1, started by hand as a launcher would;
then an unmix whose rank 1 is killed), package (the zip of scripts/package-plugin.sh
installed into a throwaway profile as the Plugin Manager does),
reports (the train, unmix and evaluate reports rendered in headless Chromium).
"""

import argparse
import csv
import json
import math
import os
import re
import shutil
import socket
import subprocess
import zipfile
import sys
import tempfile
import time

from osgeo import gdal

gdal.UseExceptions()

SKIPPED = 77
ALGORITHMS = ["synthesize", "vca", "fcls", "evaluate"]


class Failure(Exception):
    pass


def check(condition, message):
    if not condition:
        raise Failure(message)


class QgisProcess:
    """qgis_process.bin with a throwaway HOME and the plugin enabled."""

    def __init__(self, binary, plugin_path, work):
        self.binary = binary
        self.home = os.path.join(work, "home")
        os.makedirs(self.home)
        runtime = os.path.join(work, "runtime")
        os.makedirs(runtime, mode=0o700)
        self.env = dict(os.environ)
        self.env.update({
            "HOME": self.home,
            "XDG_RUNTIME_DIR": runtime,
            "QT_QPA_PLATFORM": "offscreen",
            "QGIS_PLUGINPATH": plugin_path,
        })
        self.env.pop("QGIS_CUSTOM_CONFIG_PATH", None)

    def call(self, *args, timeout=300):
        started = time.time()
        proc = subprocess.run([self.binary, *args], env=self.env, capture_output=True,
                              text=True, timeout=timeout)
        print("$ qgis_process.bin {}  ({:.1f} s, exit {})".format(
            " ".join(args), time.time() - started, proc.returncode), flush=True)
        return proc

    def enable_plugin(self):
        # "plugins enable" ends with the list of plugins ("*" marks enabled ones).
        proc = self.call("plugins", "enable", "dequnmix")
        check(proc.returncode == 0,
              "plugins enable dequnmix failed:\n" + proc.stdout + proc.stderr)
        enabled = [line.strip() for line in proc.stdout.splitlines()]
        check("* dequnmix" in enabled,
              "dequnmix is not listed as an enabled processing plugin:\n" + proc.stdout)

    def run(self, algorithm, parameters, expect_success=True, timeout=300):
        args = ["--json", "run", algorithm, "--"]
        for key, value in parameters.items():
            values = value if isinstance(value, list) else [value]
            for v in values:
                args.append("{}={}".format(key, v))
        proc = self.call(*args, timeout=timeout)
        self.last = proc
        if not expect_success:
            check(proc.returncode != 0,
                  "{} was expected to fail but succeeded:\n{}".format(algorithm, proc.stdout))
            return proc
        check(proc.returncode == 0, "{} failed (exit {}):\n{}\n{}".format(
            algorithm, proc.returncode, proc.stdout[-3000:], proc.stderr[-3000:]))
        start = proc.stdout.find("{")
        check(start >= 0, "{}: no JSON on stdout:\n{}".format(algorithm, proc.stdout))
        return json.loads(proc.stdout[start:])


def csv_header(path):
    with open(path, newline="") as f:
        return next(csv.reader(f))


def csv_endmember_names(path):
    return [h for h in csv_header(path) if h not in ("band", "wavelength", "wavelength_nm")]


def band_descriptions(path):
    ds = gdal.Open(path)
    return [ds.GetRasterBand(i + 1).GetDescription() for i in range(ds.RasterCount)]


def run_pipeline(qp, scene, work, reference_abundances, reference_endmembers, endmembers):
    """vca -> fcls -> evaluate; returns the evaluate results."""
    vca_csv = os.path.join(work, "vca_endmembers.csv")
    locations = os.path.join(work, "vca_locations.gpkg")
    result = qp.run("dequnmix:vca", {"INPUT": scene, "ENDMEMBERS": endmembers,
                                     "OUTPUT_ENDMEMBERS": vca_csv,
                                     "OUTPUT_LOCATIONS": locations})
    check(os.path.isfile(result["results"]["OUTPUT_ENDMEMBERS"]), "VCA wrote no CSV")
    check(len(csv_endmember_names(vca_csv)) == endmembers, "VCA CSV has the wrong columns")

    abundances = os.path.join(work, "fcls_abundances.tif")
    residual = os.path.join(work, "fcls_residual.tif")
    result = qp.run("dequnmix:fcls", {"INPUT": scene, "ENDMEMBERS": vca_csv,
                                      "OUTPUT": abundances, "OUTPUT_RESIDUAL": residual})
    check(result["results"]["OUTPUT"] == abundances, "FCLS OUTPUT is not the path given")
    check(band_descriptions(abundances) == csv_endmember_names(vca_csv),
          "abundance bands are not named after the endmembers")
    src = gdal.Open(scene)
    out = gdal.Open(abundances)
    check((out.RasterXSize, out.RasterYSize) == (src.RasterXSize, src.RasterYSize),
          "FCLS output has another size than its input")
    check(out.GetGeoTransform() == src.GetGeoTransform(), "FCLS output lost the geotransform")
    check(os.path.isfile(residual), "FCLS wrote no residual")

    table = os.path.join(work, "metrics.csv")
    result = qp.run("dequnmix:evaluate", {
        "ABUNDANCES": abundances, "REFERENCE_ABUNDANCES": reference_abundances,
        "ENDMEMBERS": vca_csv, "REFERENCE_ENDMEMBERS": reference_endmembers,
        "OUTPUT_TABLE": table})
    with open(table, newline="") as f:
        rows = list(csv.DictReader(f))
    check(len(rows) == endmembers, "metrics table has {} rows".format(len(rows)))
    return result["results"]


def case_cli(qp, work, args):
    proc = qp.call("list")
    check(proc.returncode == 0, "list failed")
    check("DEQ-Unmix" in proc.stdout, "provider DEQ-Unmix not in list")
    for name in ALGORITHMS:
        check("dequnmix:" + name in proc.stdout, "dequnmix:{} not in list".format(name))
    helps = {}
    for name in ALGORITHMS:
        proc = qp.call("help", "dequnmix:" + name)
        check(proc.returncode == 0, "help dequnmix:{} failed".format(name))
        check("Parameters" in proc.stdout and "Outputs" in proc.stdout,
              "help dequnmix:{} lacks parameters/outputs".format(name))
        helps[name] = proc.stdout
    for word in ["ABUNDANCES", "REFERENCE_ABUNDANCES", "ENDMEMBERS", "REFERENCE_ENDMEMBERS",
                 "MSAD_RAD", "MSAD_DEG", "ARMSE", "ARMSE_MEAN_PER_ENDMEMBER", "OUTPUT_TABLE"]:
        check(word in helps["evaluate"], "help dequnmix:evaluate does not mention " + word)

    # Bad input through qgis_process: a clear error, a failing exit code, no output.
    scene = os.path.join(work, "scene.tif")
    qp.run("dequnmix:synthesize", {
        "WIDTH": 16, "HEIGHT": 16, "BANDS": 12, "ENDMEMBERS": 3, "SNR_DB": 0,
        "OUTPUT": scene, "OUTPUT_ABUNDANCES": os.path.join(work, "a.tif"),
        "OUTPUT_ENDMEMBERS": os.path.join(work, "e.csv")})
    with open(os.path.join(work, "short.csv"), "w") as f:
        f.write("band,x,y\n1,0.1,0.2\n2,0.2,0.1\n")
    output = os.path.join(work, "out", "abundances.tif")
    proc = qp.run("dequnmix:fcls", {"INPUT": scene, "ENDMEMBERS": os.path.join(work, "short.csv"),
                                    "OUTPUT": output}, expect_success=False)
    text = proc.stdout + proc.stderr
    print("  error shown: " + next((line for line in text.splitlines() if "ENDMEMBERS has" in line), "?"))
    check("ENDMEMBERS has 2 bands" in text and "12" in text,
          "band-count mismatch message missing:\n" + text)
    check(not os.path.exists(output), "a failed run left an output")
    leftovers = os.listdir(os.path.dirname(output)) if os.path.isdir(os.path.dirname(output)) else []
    check(not leftovers, "a failed run left files: {}".format(leftovers))
    proc = qp.run("dequnmix:vca", {"INPUT": os.path.join(work, "missing.tif"), "ENDMEMBERS": 3,
                                   "OUTPUT_ENDMEMBERS": os.path.join(work, "x.csv")},
                  expect_success=False)
    check("INPUT" in proc.stdout + proc.stderr, "missing raster message does not name INPUT")
    check(not os.path.exists(os.path.join(work, "x.csv")), "a failed run left an output")


def case_pipeline(qp, work, args):
    scene = os.path.join(work, "scene.tif")
    abundances = os.path.join(work, "reference_abundances.tif")
    endmembers = os.path.join(work, "reference_endmembers.csv")
    result = qp.run("dequnmix:synthesize", {
        "WIDTH": 48, "HEIGHT": 40, "BANDS": 40, "ENDMEMBERS": 4, "SNR_DB": 0,
        "MAX_ABUNDANCE": 1, "PURE_PIXELS": "true", "SEED": 3,
        "OUTPUT": scene, "OUTPUT_ABUNDANCES": abundances, "OUTPUT_ENDMEMBERS": endmembers})
    for key in ("OUTPUT", "OUTPUT_ABUNDANCES", "OUTPUT_ENDMEMBERS"):
        check(os.path.isfile(result["results"][key]), "synthesize did not write " + key)
    check(band_descriptions(abundances) == csv_endmember_names(endmembers),
          "reference abundance bands are not named after the endmembers")
    metrics = run_pipeline(qp, scene, work, abundances, endmembers, 4)
    print("synthetic noise-free scene: mSAD {:.6f} rad ({:.4f} deg), aRMSE {:.6f}, "
          "per-endmember mean {:.6f}".format(metrics["MSAD_RAD"], metrics["MSAD_DEG"],
                                              metrics["ARMSE"],
                                              metrics["ARMSE_MEAN_PER_ENDMEMBER"]))
    check(metrics["MSAD_RAD"] < 0.01, "mSAD {} rad >= 0.01".format(metrics["MSAD_RAD"]))
    check(metrics["ARMSE"] < 0.01, "aRMSE {} >= 0.01".format(metrics["ARMSE"]))
    check(abs(metrics["MSAD_DEG"] - math.degrees(metrics["MSAD_RAD"])) < 1e-9,
          "MSAD_DEG is not MSAD_RAD in degrees")

    # Without spectra: matched by abundance error, mSAD undefined (null in JSON).
    result = qp.run("dequnmix:evaluate", {
        "ABUNDANCES": os.path.join(work, "fcls_abundances.tif"),
        "REFERENCE_ABUNDANCES": abundances})
    check(result["results"]["MSAD_RAD"] is None, "MSAD_RAD without spectra is not null")
    check(abs(result["results"]["ARMSE"] - metrics["ARMSE"]) < 1e-9,
          "matching by abundance changed aRMSE")


def case_samson(qp, work, args):
    folder = args.samson
    files = [os.path.join(folder or "", name) for name in
             ("samson.tif", "samson_abundances_gt.tif", "samson_endmembers_gt.csv")]
    if not folder or not all(os.path.isfile(f) for f in files):
        print("SKIPPED: Samson data not found in {}".format(folder))
        return SKIPPED
    scene, abundances, endmembers = files
    metrics = run_pipeline(qp, scene, work, abundances, endmembers, 3)
    # Samson has no geotransform: QGIS's question to GDAL about one stays off the console.
    check("Unable to compute a transformation" not in qp.last.stdout + qp.last.stderr,
          "GDAL's missing-geotransform message reached the console:\n" + qp.last.stderr)
    print("Samson VCA+FCLS: mSAD {:.4f} rad ({:.2f} deg), aRMSE {:.4f}, "
          "per-endmember mean {:.4f}".format(metrics["MSAD_RAD"], metrics["MSAD_DEG"],
                                             metrics["ARMSE"],
                                             metrics["ARMSE_MEAN_PER_ENDMEMBER"]))
    for key in ("MSAD_RAD", "MSAD_DEG", "ARMSE", "ARMSE_MEAN_PER_ENDMEMBER"):
        check(metrics[key] is not None and math.isfinite(metrics[key]), key + " is not finite")
    check(0.0 < metrics["MSAD_RAD"] < 0.5, "Samson mSAD {} out of range".format(metrics["MSAD_RAD"]))
    check(0.0 < metrics["ARMSE"] < 0.6, "Samson aRMSE {} out of range".format(metrics["ARMSE"]))

    # train's endmember stage: VCA's water and tree vertices are outliers of dense pure
    # clusters, which the automatic refinement centres (mSAD 0.0206 against VCA's 0.064).
    trained = {"OUTPUT": os.path.join(work, "deq.tif"),
               "OUTPUT_ENDMEMBERS": os.path.join(work, "deq.csv")}
    qp.run("dequnmix:train", dict(INPUT=scene, ENDMEMBERS=3, EPOCHS=1, THREADS=2,
                                  OUTPUT_MODEL=os.path.join(work, "deq.dequnmix"), **trained))
    deq = qp.run("dequnmix:evaluate", {
        "ABUNDANCES": trained["OUTPUT"], "REFERENCE_ABUNDANCES": abundances,
        "ENDMEMBERS": trained["OUTPUT_ENDMEMBERS"], "REFERENCE_ENDMEMBERS": endmembers,
        "OUTPUT_TABLE": os.path.join(work, "deq_metrics.csv")})["results"]
    print("Samson DEQ-Unmix endmembers (1 epoch): mSAD {:.4f} rad".format(deq["MSAD_RAD"]))
    check(deq["MSAD_RAD"] < 0.03, "Samson endmembers mSAD {} >= 0.03 (VCA's: {})".format(
        deq["MSAD_RAD"], metrics["MSAD_RAD"]))
    return 0


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def case_data_parallel(qp, work, args):
    """Two ranks started by hand, as a launcher would: rank 0 alone writes the outputs."""
    scene = os.path.join(work, "scene.tif")
    qp.run("dequnmix:synthesize", {
        "WIDTH": 48, "HEIGHT": 48, "BANDS": 30, "ENDMEMBERS": 3, "SEED": 5, "OUTPUT": scene,
        "OUTPUT_ABUNDANCES": os.path.join(work, "ref.tif"),
        "OUTPUT_ENDMEMBERS": os.path.join(work, "ref.csv")})
    outputs = {key: os.path.join(work, name) for key, name in (
        ("OUTPUT_MODEL", "m.dequnmix"), ("OUTPUT", "a.tif"), ("OUTPUT_ENDMEMBERS", "e.csv"),
        ("OUTPUT_REPORT", "r.html"))}
    logs = run_ranks(qp, 2, ["dequnmix:train", "INPUT=" + scene, "ENDMEMBERS=3", "EPOCHS=4",
                             "THREADS=1"] + ["{}={}".format(k, v) for k, v in outputs.items()])
    check("rank 0 writes the outputs" in logs[1], "rank 1 did not leave the outputs to rank 0")
    for key, path in outputs.items():
        check(os.path.isfile(path), "rank 0 did not write " + key)
    with open(outputs["OUTPUT_REPORT"]) as f:
        check("data-parallel over 2 processes" in f.read(), "the report does not name the ranks")

    # unmix over 3 ranks (tiles dealt round-robin) equals the one-process output.
    unmix = {"INPUT": scene, "MODEL": outputs["OUTPUT_MODEL"], "TILE_SIZE": 16, "THREADS": 1}
    one = dict(unmix, OUTPUT=os.path.join(work, "one.tif"),
               OUTPUT_RESIDUAL=os.path.join(work, "one_rmse.tif"))
    qp.run("dequnmix:unmix", one)
    three = dict(unmix, OUTPUT=os.path.join(work, "three.tif"),
                 OUTPUT_RESIDUAL=os.path.join(work, "three_rmse.tif"))
    run_ranks(qp, 3, ["dequnmix:unmix"] + ["{}={}".format(k, v) for k, v in three.items()])
    from osgeo import gdal
    for key in ("OUTPUT", "OUTPUT_RESIDUAL"):
        a = gdal.Open(one[key]).ReadAsArray()
        b = gdal.Open(three[key]).ReadAsArray()
        check(a.shape == b.shape and (a == b).all(),
              "{} of 3 ranks differs from one process (max {})".format(key, abs(a - b).max()))
    leftovers = [name for name in os.listdir(work) if ".rank" in name]
    check(not leftovers, "part rasters left behind: {}".format(leftovers))
    unmix_with_a_killed_rank(qp, work, scene)
    return 0


def unmix_with_a_killed_rank(qp, work, scene):
    """Rank 1 of an unmix is killed while it writes its part: rank 0 stops with the clear
    error, and neither the output nor a part raster is left. The model runs every tile to
    300 iterations (tolerance 0) so that rank 1 is still at work when it is killed."""
    model = os.path.join(work, "slow.dequnmix")
    qp.run("dequnmix:train", {"INPUT": scene, "ENDMEMBERS": 3, "EPOCHS": 1, "THREADS": 1,
                              "INFERENCE_MAX_ITERATIONS": 300, "INFERENCE_TOLERANCE": 0,
                              "OUTPUT_MODEL": model, "OUTPUT": os.path.join(work, "slow.tif"),
                              "OUTPUT_ENDMEMBERS": os.path.join(work, "slow.csv")})
    scene = os.path.join(work, "big.tif")
    qp.run("dequnmix:synthesize", {
        "WIDTH": 64, "HEIGHT": 64, "BANDS": 30, "ENDMEMBERS": 3, "SEED": 6, "OUTPUT": scene,
        "OUTPUT_ABUNDANCES": os.path.join(work, "big_ref.tif"),
        "OUTPUT_ENDMEMBERS": os.path.join(work, "big_ref.csv")})
    output = os.path.join(work, "killed.tif")
    ranks = start_ranks(qp, 2, ["dequnmix:unmix", "INPUT=" + scene, "MODEL=" + model,
                                "TILE_SIZE=8", "THREADS=1", "OUTPUT=" + output])

    def rank1_writing():  # its part's staged file, there until the part is complete
        return any(name.startswith("..killed.rank1") for name in os.listdir(work))
    deadline = time.time() + 120
    while not rank1_writing() and ranks[1].poll() is None and time.time() < deadline:
        time.sleep(0.01)
    if ranks[1].poll() is not None:
        raise Failure("rank 1 ended before it could be killed:\n" + ranks[1].communicate()[0])
    ranks[1].kill()
    ranks[1].communicate(timeout=60)
    log = ranks[0].communicate(timeout=300)[0]
    check(ranks[0].returncode != 0, "rank 0 succeeded without rank 1:\n" + log[-3000:])
    for words in ("data-parallel rank 0 of 2", "another rank stopped", "no output is complete"):
        check(words in log, "rank 0 does not say '{}':\n{}".format(words, log[-3000:]))
    check(not os.path.exists(output), "an output was left after the lost rank")
    # Only the killed process's hidden staged file may stay (the next run removes it).
    leftovers = [name for name in os.listdir(work)
                 if "killed" in name and not name.startswith("..killed.rank1")]
    check(not leftovers, "files left after the lost rank: {}".format(leftovers))


def start_ranks(qp, world, arguments):
    """Starts `qgis_process run` as `world` ranks on 127.0.0.1; returns their processes."""
    command = [qp.binary, "run", arguments[0], "--"] + arguments[1:]
    port = str(free_port())
    return [subprocess.Popen(command, env=dict(qp.env, RANK=str(r), WORLD_SIZE=str(world),
                                               MASTER_ADDR="127.0.0.1", MASTER_PORT=port,
                                               DEQUNMIX_DISTRIBUTED_TIMEOUT="60"),
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            for r in range(world)]


def run_ranks(qp, world, arguments):
    """Runs `qgis_process run` as `world` ranks on 127.0.0.1; returns their logs."""
    ranks = start_ranks(qp, world, arguments)
    logs = [rank.communicate(timeout=300)[0] for rank in ranks]
    for r, (rank, log) in enumerate(zip(ranks, logs)):
        check(rank.returncode == 0, "rank {} of {} failed:\n{}".format(r, world, log[-3000:]))
        check("rank {} of {}".format(r, world) in log, "rank {} did not join:\n{}".format(r, log))
    return logs


def case_package(qp, work, args):
    """The zip of scripts/package-plugin.sh, unpacked as the Plugin Manager's "Install from
    ZIP" does into a throwaway profile, enabled, and an algorithm run."""
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = dict(os.environ, BUILD_DIR=os.path.dirname(os.path.abspath(args.plugin_path)))
    proc = subprocess.run(["bash", os.path.join(root, "scripts", "package-plugin.sh"),
                           os.path.join(work, "dist")], env=env, capture_output=True, text=True,
                          timeout=300)
    check(proc.returncode == 0, "package-plugin.sh failed:\n" + proc.stderr)
    archive = proc.stdout.strip().splitlines()[-1]
    print("packed {} ({} KiB)".format(archive, os.path.getsize(archive) // 1024))
    plugins = os.path.join(qp.home, ".local", "share", "QGIS", "QGIS3", "profiles", "default",
                           "python", "plugins")
    os.makedirs(plugins)
    with zipfile.ZipFile(archive) as z:
        check(all(n.startswith("dequnmix/") for n in z.namelist()),
              "the zip does not hold one folder 'dequnmix'")
        z.extractall(plugins)
    with open(os.path.join(plugins, "dequnmix", "metadata.txt")) as f:
        metadata = f.read()
    for key in ("version=", "qgisMinimumVersion=", "platform="):
        check(key in metadata, "metadata.txt lacks " + key)
    os.chmod(os.path.join(plugins, "dequnmix", "libdequnmix_qgis.so"), 0o755)
    qp.env.pop("QGIS_PLUGINPATH")  # only the profile's plugins now
    qp.enable_plugin()
    scene = os.path.join(work, "scene.tif")
    result = qp.run("dequnmix:synthesize", {
        "WIDTH": 16, "HEIGHT": 16, "BANDS": 10, "ENDMEMBERS": 3, "OUTPUT": scene,
        "OUTPUT_ABUNDANCES": os.path.join(work, "a.tif"),
        "OUTPUT_ENDMEMBERS": os.path.join(work, "e.csv")})
    check(os.path.isfile(result["results"]["OUTPUT"]), "synthesize from the zip wrote nothing")
    return 0


def render(html, screenshot, work):
    """Loads `html` in headless Chromium and saves a screenshot; fails on a script error or
    console message in Chromium's log, or on a resource that is not inside the document
    (Chromium does not log a missing file:// image, so every src and href is checked)."""
    with open(html) as f:
        for attribute, value in re.findall(r'\b(src|href)="([^"]*)"', f.read()):
            check(value.startswith("data:") or value.startswith("#"),
                  "{} {}=\"{}\" is not inside the document".format(html, attribute, value[:80]))
    proc = subprocess.run(
        ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--enable-logging=stderr",
         "--v=0", "--user-data-dir=" + os.path.join(work, "chromium"),
         "--window-size=1400,2000", "--screenshot=" + screenshot, "file://" + html],
        capture_output=True, text=True, timeout=120)
    check(proc.returncode == 0 and os.path.isfile(screenshot),
          "chromium could not render {}:\n{}".format(html, proc.stderr[-2000:]))
    for sign in ("Failed to load resource", "ERR_FILE_NOT_FOUND", "Uncaught", "CONSOLE(" ):
        check(sign not in proc.stderr, "{} in Chromium's log of {}:\n{}".format(
            sign, html, proc.stderr[-2000:]))


def case_reports(qp, work, args):
    """The training, unmix and evaluation reports, each rendered in headless Chromium."""
    if not shutil.which("chromium"):
        print("SKIPPED: no chromium (Debian package chromium)")
        return SKIPPED
    scene = os.path.join(work, "scene.tif")
    reference = os.path.join(work, "reference.tif")
    qp.run("dequnmix:synthesize", {
        "WIDTH": 40, "HEIGHT": 32, "BANDS": 30, "ENDMEMBERS": 3, "SEED": 2, "OUTPUT": scene,
        "OUTPUT_ABUNDANCES": reference, "OUTPUT_ENDMEMBERS": os.path.join(work, "ref.csv")})
    reports = {name: os.path.join(work, name + ".html") for name in ("train", "unmix", "evaluate")}
    qp.run("dequnmix:train", {
        "INPUT": scene, "ENDMEMBERS": 3, "EPOCHS": 3, "OUTPUT_MODEL": os.path.join(work, "m.dequnmix"),
        "OUTPUT": os.path.join(work, "a.tif"), "OUTPUT_ENDMEMBERS": os.path.join(work, "e.csv"),
        "OUTPUT_RESIDUAL": os.path.join(work, "r.tif"), "OUTPUT_REPORT": reports["train"]})
    qp.run("dequnmix:unmix", {
        "INPUT": scene, "MODEL": os.path.join(work, "m.dequnmix"), "TILE_SIZE": 16,
        "OUTPUT": os.path.join(work, "u.tif"), "OUTPUT_REPORT": reports["unmix"]})
    qp.run("dequnmix:evaluate", {
        "ABUNDANCES": os.path.join(work, "a.tif"), "REFERENCE_ABUNDANCES": reference,
        "ENDMEMBERS": os.path.join(work, "e.csv"), "REFERENCE_ENDMEMBERS":
        os.path.join(work, "ref.csv"), "OUTPUT_REPORT": reports["evaluate"]})
    shots = args.screenshots or work
    os.makedirs(shots, exist_ok=True)
    for name, html in reports.items():
        shot = os.path.join(shots, name + "_report.png")
        render(html, shot, work)
        print("{} report: {} bytes, screenshot {}".format(name, os.path.getsize(html), shot))
    return 0


CASES = {"cli": case_cli, "pipeline": case_pipeline, "samson": case_samson,
         "data_parallel": case_data_parallel, "package": case_package, "reports": case_reports}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("case", choices=sorted(CASES))
    parser.add_argument("--qgis-process", default="/usr/bin/qgis_process.bin")
    parser.add_argument("--plugin-path", required=True,
                        help="folder holding the staged plugin folder 'dequnmix'")
    parser.add_argument("--samson", default="", help="folder of the Samson data")
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    parser.add_argument("--screenshots", default="", help="folder for the reports' screenshots")
    args = parser.parse_args()

    if not os.path.isfile(os.path.join(args.plugin_path, "dequnmix", "metadata.txt")):
        print("FAILED: no staged plugin in {}".format(args.plugin_path))
        return 1
    work = tempfile.mkdtemp(prefix="dequnmix_e2e_{}_".format(args.case))
    try:
        qp = QgisProcess(args.qgis_process, os.path.abspath(args.plugin_path), work)
        if args.case == "samson" and not (args.samson and os.path.isdir(args.samson)):
            print("SKIPPED: Samson data not found in '{}'".format(args.samson))
            return SKIPPED
        if args.case != "package":  # that case installs and enables its own copy
            qp.enable_plugin()
        status = CASES[args.case](qp, work, args) or 0
        if status == 0:
            print("PASSED: {}".format(args.case))
        return status
    except (Failure, subprocess.TimeoutExpired) as error:
        print("FAILED: {}".format(error))
        return 1
    finally:
        if args.keep:
            print("work folder kept: " + work)
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
