#!/usr/bin/env bash
# QGIS desktop smoke test: under Xvfb, QGIS starts with a throwaway --profiles-path whose
# profile enables the dequnmix plugin (found through QGIS_PLUGINPATH=<build>/plugin), runs
# desktop_check.py (registry, Models entry, "Train DEQ-Unmix" dialog + screenshot) and
# exits; this script asserts on the JSON result that the check wrote.
# Usage: run_desktop_test.sh BUILD_DIR [ARTIFACT_DIR]   (exit 77: skipped, no qgis/xvfb-run)
set -euo pipefail
build="$(cd "${1:?usage: run_desktop_test.sh BUILD_DIR [ARTIFACT_DIR]}" && pwd)"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
for tool in /usr/bin/qgis xvfb-run; do
  if ! command -v "${tool}" > /dev/null; then
    echo "SKIP: ${tool} not available"
    exit 77
  fi
done
[[ -f "${build}/plugin/dequnmix/libdequnmix_qgis.so" ]] || { echo "no staged plugin in ${build}/plugin"; exit 1; }

work="$(mktemp -d)"
trap 'rm -rf "${work}"' EXIT
artifacts="${2:-${work}}"
mkdir -p "${artifacts}"
profiles="${work}/profiles"
ini="${profiles}/profiles/default/QGIS/QGIS3.ini"
mkdir -p "$(dirname "${ini}")"
cat > "${ini}" << 'INI'
[PythonPlugins]
dequnmix=true
processing=true

[qgis]
checkVersion=false
showTips322=false

[core]
NewsFeed\httpsfeedqgisorg\disabled=true
INI
cat > "${profiles}/profiles/profiles.ini" << 'INI'
[core]
defaultProfile=default
INI
result="${artifacts}/desktop_result.json"
screenshot="${artifacts}/train_dialog.png"
canvas="${artifacts}/abundances_canvas.png"
rm -f "${result}" "${screenshot}" "${canvas}"

export HOME="${work}/home" XDG_RUNTIME_DIR="${work}/runtime"
mkdir -p "${HOME}" "${XDG_RUNTIME_DIR}"
chmod 700 "${XDG_RUNTIME_DIR}"
export QGIS_PLUGINPATH="${build}/plugin"
export DEQUNMIX_DESKTOP_RESULT="${result}" DEQUNMIX_DESKTOP_SCREENSHOT="${screenshot}"
export DEQUNMIX_DESKTOP_CANVAS="${canvas}"
unset QT_QPA_PLATFORM
status=0
timeout 240 xvfb-run -a -s "-screen 0 1280x1024x24" /usr/bin/qgis --profiles-path "${profiles}" \
  --profile default --nologo --noversioncheck --code "${here}/desktop_check.py" \
  > "${work}/qgis.log" 2>&1 || status=$?
if [[ ! -f "${result}" ]]; then
  echo "FAIL: QGIS exited (status ${status}) without writing ${result}; its log:"
  tail -n 40 "${work}/qgis.log"
  exit 1
fi
cat "${result}"
/usr/bin/python3 - "${result}" "${screenshot}" "${canvas}" << 'PY'
import json, os, sys
r = json.load(open(sys.argv[1]))
problems = list(r.get("errors", []))
if r.get("provider") != "DEQ-Unmix":
    problems.append("provider not found")
for alg in ("dequnmix:train", "dequnmix:unmix"):
    if alg not in r.get("algorithms", []):
        problems.append(alg + " not in the toolbox")
if not r.get("model_in_toolbox"):
    problems.append("the shipped model is not in the toolbox's Models")
if "Train DEQ-Unmix" not in (r.get("dialog_title") or ""):
    problems.append("train dialog title: %r" % r.get("dialog_title"))
if not (os.path.isfile(sys.argv[2]) and os.path.getsize(sys.argv[2]) > 1000):
    problems.append("no screenshot of the dialog")
w, h = (r.get("screenshot_size") or [0, 0])
if w < 200 or h < 200:
    problems.append("dialog screenshot too small: %sx%s" % (w, h))
if not (os.path.isfile(sys.argv[3]) and os.path.getsize(sys.argv[3]) > 1000):
    problems.append("no screenshot of the abundances in the map canvas")
if r.get("abundance_renderer") in (None, "singlebandgray"):
    problems.append("the abundance output has no style of ours: %r" % r.get("abundance_renderer"))
if problems:
    print("FAIL: " + "; ".join(problems))
    sys.exit(1)
print("OK: provider, algorithms, model and train dialog present in QGIS desktop; "
      "abundances drawn with a %s renderer" % r.get("abundance_renderer"))
PY
