#!/usr/bin/env bash
# The demo in one command: builds www/pkg/, then serves the page on
# http://127.0.0.1:8080/ (extra arguments go to webclip-serve, e.g. --port 9000).
# The server is a small std-only binary; the dev profile shares its build with
# `cargo test`.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/build-web.sh
cargo build --bin webclip-serve
exec "${CARGO_TARGET_DIR:-target}/debug/webclip-serve" --root . "$@"
