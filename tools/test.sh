#!/usr/bin/env bash
# The whole test suite, as CI runs it (.ci/run calls this):
#   0. lint: cargo fmt --check, cargo clippy -D warnings
#   1. native: kernels, model, tokenizer, preprocessing, CLI (wgpu on Vulkan; lavapipe without a GPU)
#   2. browser: the same kernel tests and the fixture comparison, as wasm on headless Chromium's WebGPU
#   3. the demo page driven by Playwright (playwright-core + Debian's chromium)
# Installs what a fresh Debian machine lacks (apt, through sudo when not root).
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
dpkg -s mesa-vulkan-drivers >/dev/null 2>&1 || missing+=(mesa-vulkan-drivers)
command -v chromium >/dev/null || missing+=(chromium)
command -v chromedriver >/dev/null || missing+=(chromium-driver)
command -v node >/dev/null || missing+=(nodejs)
command -v npm >/dev/null || missing+=(npm)
if [ ${#missing[@]} -gt 0 ]; then
    sudo=""; [ "$(id -u)" = 0 ] || sudo=sudo
    echo "test: installing ${missing[*]}" >&2
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi
# Vulkan's loader warns without a runtime dir; give it a private one.
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-$(mktemp -d)}"

echo "== lint (rustfmt.toml's style, clippy without warnings)" >&2
for tool in rustfmt clippy; do
    cargo "${tool/rustfmt/fmt}" --version >/dev/null 2>&1 || rustup component add "$tool"
done
cargo fmt --check
cargo clippy --all-targets --quiet -- -D warnings

echo "== native tests" >&2
cargo test

echo "== browser tests (wasm-bindgen-test, headless Chromium WebGPU)" >&2
tools/test-browser.sh

echo "== page tests (Playwright)" >&2
# The threaded wasm build (www/pkg-threads/) needs a nightly with rust-src: added where
# rustup has a nightly; without, build-web.sh skips it and tests/e2e/threads.test.mjs says so.
if command -v rustup >/dev/null && rustup run nightly rustc --version >/dev/null 2>&1; then
    rustup component add rust-src --toolchain nightly >/dev/null 2>&1 \
        && rustup target add wasm32-unknown-unknown --toolchain nightly >/dev/null 2>&1 \
        || echo "test: could not add rust-src / wasm32 to nightly: no threaded build" >&2
fi
tools/build-web.sh --dev
cargo build --bin webclip-serve --bin webclip
(cd tests/e2e && npm ci --no-audit --no-fund --silent)
node --test tests/e2e/
