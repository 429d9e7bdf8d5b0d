# Sourced by build-web.sh and test-browser.sh: makes sure the wasm32 target and
# exactly the wasm-bindgen-cli that Cargo.lock pins are installed (the CLI, its
# test runner and the wasm-bindgen crate must agree to the patch version).

wasm_bindgen_version=$(awk '$0 == "name = \"wasm-bindgen\"" { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock)
[ -n "$wasm_bindgen_version" ] || { echo "wasm-toolchain: no wasm-bindgen in Cargo.lock" >&2; exit 1; }

if command -v rustup >/dev/null && ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
    rustup target add wasm32-unknown-unknown
fi

installed=$(wasm-bindgen --version 2>/dev/null | awk '{ print $2 }' || true)
if [ "$installed" != "$wasm_bindgen_version" ] || ! command -v wasm-bindgen-test-runner >/dev/null; then
    echo "wasm-toolchain: installing wasm-bindgen-cli $wasm_bindgen_version (found: ${installed:-none}); a few minutes, once" >&2
    # Not --locked: one of its locked dependencies is no longer on the registry.
    cargo install wasm-bindgen-cli --version "$wasm_bindgen_version" --force
fi
