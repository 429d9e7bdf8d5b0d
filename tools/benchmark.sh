#!/usr/bin/env bash
# Writes BENCHMARKS.md: webclip against transformers.js in headless Chromium and
# against PyTorch natively, measured in one run on the same checkpoint.
#   tools/benchmark.sh [MODEL_DIR]      (default /work/vitb32; made if missing)
# Developer machines only: needs tools/.venv (tools/README.md) and Debian's chromium.
# About 25 minutes on 2 cores, most of it transformers.js' slow WebGPU configs.
set -euo pipefail
cd "$(dirname "$0")/.."
model="${1:-/work/vitb32}"
onnx="${model%/}-onnx"
. tools/.venv/bin/activate
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-$(mktemp -d)}"
[ -f "$model/model.safetensors" ] || python3 tools/make_vitb32.py "$model"
[ -f "$onnx/onnx/vision_model_q4.onnx" ] || python3 tools/make_onnx.py "$model" "$onnx"
tools/build-web.sh
cargo build --release --bin webclip
# webclip's own rows per weight format read the checkpoint converted by webclip itself.
mkdir -p "${model%/}-webclip"
for f in f16 q8 q4; do
    [ -f "${model%/}-webclip/model-$f.webclip" ] || target/release/webclip convert --model "$model" --quant "$f" -o "${model%/}-webclip/model-$f.webclip"
done
(cd tools/bench-browser && npm ci --ignore-scripts --no-audit --no-fund --silent)
mkdir -p tools/out
python3 tools/bench.py "$model" --out tools/out/bench-native.json
(cd tools/bench-browser && node bench.mjs --model "$model" --onnx "$onnx")
python3 tools/write_benchmarks.py tools/out/bench-native.json tools/out/bench-browser.json > BENCHMARKS.md
echo "benchmark: wrote BENCHMARKS.md"
