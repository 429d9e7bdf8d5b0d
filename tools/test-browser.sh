#!/usr/bin/env bash
# Runs the wasm test suite (the kernel tests of src/ops, tests/browser.rs and the
# decoders' peak memory, tests/decode_memory.rs) in
# headless Chromium on its WebGPU, through wasm-bindgen-test-runner (the wasm32
# runner set in .cargo/config.toml). Extra arguments go to `cargo test`, e.g.
# `tools/test-browser.sh -- --nocapture`. Needs Debian's chromium and chromium-driver.
# Exits non-zero when a test fails.
set -euo pipefail
cd "$(dirname "$0")/.."
. tools/wasm-toolchain.sh

export CHROMEDRIVER="${CHROMEDRIVER:-$(command -v chromedriver || echo /usr/bin/chromedriver)}"
export WASM_BINDGEN_TEST_WEBDRIVER_JSON="$PWD/tests/webdriver.json"
export WASM_BINDGEN_TEST_TIMEOUT="${WASM_BINDGEN_TEST_TIMEOUT:-300}"
# Only the suites that have browser tests (the others are native-only).
exec cargo test --target wasm32-unknown-unknown --lib --test browser --test decode_memory "$@"
