#!/usr/bin/env bash
# Runs the wasm test suite (the kernel tests of src/ops and tests/browser.rs) in
# headless Chromium on its WebGPU, through wasm-bindgen-test-runner (the wasm32
# runner set in .cargo/config.toml). Extra arguments go to `cargo test`, e.g.
# `tools/test-browser.sh --lib`. Needs: rustup target wasm32-unknown-unknown,
# Debian's chromium and chromium-driver. Exits non-zero when a test fails.
set -euo pipefail
cd "$(dirname "$0")/.."

rustup target list --installed 2>/dev/null | grep -x wasm32-unknown-unknown >/dev/null || rustup target add wasm32-unknown-unknown

# The runner must be exactly the wasm-bindgen version Cargo.lock resolved.
want=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock)
[ -n "$want" ] || { echo "test-browser: no wasm-bindgen in Cargo.lock" >&2; exit 1; }
have=$(wasm-bindgen-test-runner --version 2>/dev/null | awk '{ print $2 }' || true)
if [ "$have" != "$want" ]; then
    echo "test-browser: installing wasm-bindgen-cli $want (found: ${have:-none})" >&2
    cargo install wasm-bindgen-cli --version "$want"
fi

export CHROMEDRIVER="${CHROMEDRIVER:-$(command -v chromedriver || echo /usr/bin/chromedriver)}"
export WASM_BINDGEN_TEST_WEBDRIVER_JSON="$PWD/tests/webdriver.json"
export WASM_BINDGEN_TEST_TIMEOUT="${WASM_BINDGEN_TEST_TIMEOUT:-300}"
exec cargo test --target wasm32-unknown-unknown "$@"
