#!/usr/bin/env bash
# Builds the browser engine, and nothing else (www/wasm.js picks one per page):
#   www/pkg/          simd128, one thread: every browser since 2021, every page
#   www/pkg-relaxed/  simd128 + relaxed SIMD (fused multiply-adds in the f32 matmul),
#                     one thread: browsers that validate relaxed SIMD
#   www/pkg-threads/  the relaxed build with wasm threads, for cross-origin-isolated pages:
#                     needs a nightly toolchain with rust-src (std is rebuilt with atomics);
#                     skipped, with a note, where there is none.
# Each build whose flags differ from .cargo/config.toml's (simd128 + relaxed SIMD, what the
# wasm tests run) has its own target dir. Release by default (smallest, fastest wasm);
# `--dev` makes pkg-relaxed/ from the wasm test build's artifacts, which is what the test
# command wants (pkg/ and pkg-threads/ are release either way: nothing else shares them).
set -euo pipefail
cd "$(dirname "$0")/.."
. tools/wasm-toolchain.sh

profile=release
[ "${1:-}" = "--dev" ] && profile=dev
dir=$([ $profile = release ] && echo release || echo debug)
release=$([ $profile = release ] && echo --release || true)
target=${CARGO_TARGET_DIR:-target}

cargo build --lib --target wasm32-unknown-unknown $release
wasm-bindgen --target web --out-dir www/pkg-relaxed "$target/wasm32-unknown-unknown/$dir/webclip.wasm"

# RUSTFLAGS replaces .cargo/config.toml's flags for the target: simd128 alone.
RUSTFLAGS="-C target-feature=+simd128" cargo build --lib --target wasm32-unknown-unknown --release \
    --target-dir "$target/simd128"
wasm-bindgen --target web --out-dir www/pkg "$target/simd128/wasm32-unknown-unknown/release/webclip.wasm"

# Shared memory needs --shared-memory and --import-memory (rustc no longer adds them for
# +atomics), a maximum (else it cannot grow: 4 GiB, wasm32's whole space) and the
# thread-local-storage exports wasm-bindgen's thread start-up calls.
threads_flags="-C target-feature=+atomics,+bulk-memory,+mutable-globals,+simd128,+relaxed-simd \
-C link-arg=--shared-memory -C link-arg=--import-memory -C link-arg=--max-memory=4294967296 \
-C link-arg=--export=__wasm_init_tls -C link-arg=--export=__tls_size \
-C link-arg=--export=__tls_align -C link-arg=--export=__tls_base"
if rustup run nightly rustc --version >/dev/null 2>&1 \
    && rustup component list --toolchain nightly --installed 2>/dev/null | grep -q '^rust-src' \
    && rustup target list --toolchain nightly --installed 2>/dev/null | grep -qx wasm32-unknown-unknown; then
    # Release even for --dev: from scratch it builds in 2m44 against 7m38 for dev (std is
    # rebuilt too; measured on 2 cores).
    RUSTFLAGS="$threads_flags" cargo +nightly build --lib --target wasm32-unknown-unknown --release \
        -Z build-std=panic_abort,std --features threads --target-dir "$target/threads"
    wasm-bindgen --target web --out-dir www/pkg-threads "$target/threads/wasm32-unknown-unknown/release/webclip.wasm"
    echo "build-web: www/pkg/ (release), www/pkg-relaxed/ ($profile) and www/pkg-threads/ (release) are ready"
else
    rm -rf www/pkg-threads
    echo "build-web: www/pkg/ (release) and www/pkg-relaxed/ ($profile) are ready; no threaded build: it needs 'rustup toolchain install nightly --component rust-src --target wasm32-unknown-unknown'"
fi
