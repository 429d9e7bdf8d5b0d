#!/usr/bin/env bash
# The converted files the page offers, ready to publish next to it:
#   tools/publish-models.sh [OUT]          (default OUT: models/, the page's mirror)
# For each model of the page's picker (OpenCLIP's three ViT-B/32: DataComp at 256 px,
# DataComp.XL, LAION-2B; OpenAI CLIP ViT-B/32, ViT-B/16, ViT-L/14; Google's SigLIP 2
# B/16 and B/32 and SigLIP B/16) it
# downloads config.json, model.safetensors, tokenizer.json and
# preprocessor_config.json from the Hugging Face Hub at the current commit
# (`hf download`, from huggingface_hub: tools/requirements.txt), then writes
#   OUT/<id>/model-q8.webclip, model-q4.webclip, model-f16.webclip
# with `webclip convert`, each naming its source as <id>@<commit>. SigLIP (1) repos ship
# SentencePiece's spiece.model and no tokenizer.json: one is made from it as
# transformers' converters lay it out (tools/siglip_tokenizer_json.py; tests/tokenizer.rs
# checks that layout against the slow SiglipTokenizer), into a copy of the snapshot. That is the
# layout both the page's mirror (<meta name="webclip-mirror">) and a Hub repo
# holding converted files use. Serve OUT beside the page and the model picker
# reads these before falling back to quantizing the Hub's weights in the worker.
#
# Without network: WEBCLIP_LOCAL_<n>=DIR (n = 1, 2, ... in the order below) uses
# a local Hub-layout directory instead of downloading, e.g.
#   WEBCLIP_LOCAL_1=/work/vitb32 WEBCLIP_MODELS="openai/clip-vit-base-patch32" tools/publish-models.sh /tmp/out
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-models}"
models=(${WEBCLIP_MODELS:-laion/CLIP-ViT-B-32-256x256-DataComp-s34B-b86K laion/CLIP-ViT-B-32-DataComp.XL-s13B-b90K \
    laion/CLIP-ViT-B-32-laion2B-s34B-b79K \
    openai/clip-vit-base-patch32 openai/clip-vit-base-patch16 openai/clip-vit-large-patch14 \
    google/siglip2-base-patch16-224 google/siglip2-base-patch32-256 google/siglip-base-patch16-224})
formats=(${WEBCLIP_FORMATS:-q8 q4 f16})
cargo build --release --bin webclip
webclip=target/release/webclip

n=0
for id in "${models[@]}"; do
    n=$((n + 1))
    local_var="WEBCLIP_LOCAL_$n"
    if [ -n "${!local_var:-}" ]; then
        dir="${!local_var}"
        commit=local
    else
        command -v hf >/dev/null || { echo "publish: hf (huggingface_hub's CLI) is missing: pip install -r tools/requirements.txt" >&2; exit 1; }
        case "$id" in
            google/siglip-*)
                snapshot="$(hf download "$id" config.json model.safetensors spiece.model preprocessor_config.json | tail -n 1)"
                dir="$(mktemp -d)"
                cp -L "$snapshot"/{config.json,model.safetensors,preprocessor_config.json} "$dir/"
                tools/.venv/bin/python tools/siglip_tokenizer_json.py "$snapshot/spiece.model" "$dir/tokenizer.json"
                ;;
            *)
                snapshot="$(hf download "$id" config.json model.safetensors tokenizer.json preprocessor_config.json | tail -n 1)"
                dir="$snapshot"
                ;;
        esac
        # The snapshot directory is named by the commit it holds.
        commit="$(basename "$snapshot")"
    fi
    mkdir -p "$out/$id"
    for f in "${formats[@]}"; do
        echo "publish: $id@$commit -> $out/$id/model-$f.webclip" >&2
        "$webclip" convert --model "$dir" --quant "$f" -o "$out/$id/model-$f.webclip" --source "$id@$commit"
    done
done
ls -l "$out"/*/*/model-*.webclip
