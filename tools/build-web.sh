#!/usr/bin/env bash
# Builds the browser engine into www/pkg/ (wasm + its JS glue), and nothing else.
# Release build by default (smallest, fastest wasm); `--dev` reuses the wasm test
# build's artifacts, which is what the test command wants.
set -euo pipefail
cd "$(dirname "$0")/.."
. tools/wasm-toolchain.sh

profile=release
[ "${1:-}" = "--dev" ] && profile=dev
cargo build --lib --target wasm32-unknown-unknown $([ $profile = release ] && echo --release)
dir=$([ $profile = release ] && echo release || echo debug)
wasm-bindgen --target web --out-dir www/pkg "${CARGO_TARGET_DIR:-target}/wasm32-unknown-unknown/$dir/webclip.wasm"
echo "build-web: www/pkg/ is ready ($profile)"
