#!/usr/bin/env bash
# make bench-quality: the listening proxy, before (BEFORE_REF's generator) and after (this tree).
# Installs, for this benchmark only: Debian's reference game music (measurement only, never
# shipped) and a venv of its own with tensorflow-cpu 2.15.1, numpy<2 and musicnn 0.1.0.
set -euo pipefail
BEFORE_REF="${1:?usage: run.sh BEFORE_REF}"
SEEDS="${SEEDS:-3}"
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
WORK="$ROOT/out/bench-quality"
PY="$ROOT/.venv/bin/python"
QPY="$WORK/venv/bin/python"
mkdir -p "$WORK"
cd "$ROOT"

pkgs=(wesnoth-1.16-music freedroidrpg-data supertux-data)
missing=()
for p in "${pkgs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo -n"
  echo "bench-quality: installing the reference music (${missing[*]}) with apt-get"
  $sudo apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
if [ ! -x "$QPY" ] || ! "$QPY" -c "import musicnn, tensorflow, librosa, matplotlib" 2>/dev/null; then
  echo "bench-quality: building its venv (tensorflow-cpu 2.15.1, numpy<2, musicnn 0.1.0)"
  python3 -m venv "$WORK/venv"
  "$QPY" -m pip install -q --upgrade pip
  "$QPY" -m pip install -q "tensorflow-cpu==2.15.1" "numpy<2" "librosa==0.10.2.post1" soundfile scipy pyloudnorm matplotlib
  "$QPY" -m pip install -q --no-deps musicnn==0.1.0
fi

# the generator before: the package as committed at BEFORE_REF, imported instead of this tree's
rm -rf "$WORK/before-src" && mkdir -p "$WORK/before-src"
git archive "$BEFORE_REF" soundtrack | tar -x -C "$WORK/before-src"
rm -rf "$WORK/before" "$WORK/after"
export SOUNDTRACK_QUIET=1
PYTHONPATH="$WORK/before-src" "$PY" benchmarks/quality/generate.py --out "$WORK/before" --seeds "$SEEDS" --label before \
  > "$WORK/before.log" 2>&1 &
before_pid=$!
"$PY" benchmarks/quality/generate.py --out "$WORK/after" --seeds "$SEEDS" --label after > "$WORK/after.log" 2>&1
wait "$before_pid"
tail -n 2 "$WORK/before.log" "$WORK/after.log"
"$QPY" benchmarks/quality/measure.py --human "$WORK/human" --set before="$WORK/before" --set after="$WORK/after" \
  --out "$WORK/results.json"
cp "$WORK/results.json" benchmarks/quality/results.json
"$QPY" benchmarks/quality/report.py "$WORK/results.json" --before "$WORK/before" --after "$WORK/after" \
  --command "make bench-quality"
