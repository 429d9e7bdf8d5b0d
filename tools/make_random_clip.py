#!/usr/bin/env python3
"""A full-size random-weight CLIP ViT-B/32 in Hugging Face layout, numpy only.

For timing (tools/bench-ab.sh, tools/bench-ab-page.mjs), not for accuracy: no
reference outputs are written (tools/make_vitb32.py does that, with torch).

    python3 tools/make_random_clip.py [OUT_DIR] [--seed N]     # default /work/vitb32

Writes OUT_DIR/config.json (transformers' CLIPConfig() defaults, i.e. ViT-B/32),
model.safetensors (fp32, every tensor webclip's weights::expected() lists for that
config, sorted by name; safetensors written by hand), preprocessor_config.json
(224 px, OpenAI's mean/std) and tokenizer.json (a copy of
tests/fixtures/tokenizer/tokenizer.json, the full 49408-token CLIP tokenizer).

Init: normal(0, 0.02) for matrices and embeddings, zero for linear biases,
LayerNorm weight 1 and bias 0, logit_scale ln(1/0.07). The `position_ids`
buffers are not written: transformers does not save them (non-persistent) and
webclip neither expects nor needs them.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import struct
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
TOKENIZER = REPO / "tests" / "fixtures" / "tokenizer" / "tokenizer.json"

# transformers' CLIPConfig() defaults (ViT-B/32), the values src/model/config.rs
# falls back to for a missing key.
VISION = dict(hidden_size=768, intermediate_size=3072, num_attention_heads=12, num_hidden_layers=12,
              image_size=224, patch_size=32, num_channels=3)
TEXT = dict(hidden_size=512, intermediate_size=2048, num_attention_heads=8, num_hidden_layers=12,
            vocab_size=49408, max_position_embeddings=77)
PROJECTION_DIM = 512
LOGIT_SCALE = math.log(1 / 0.07)


def config_json() -> dict:
    common = dict(attention_dropout=0.0, hidden_act="quick_gelu", initializer_factor=1.0,
                  initializer_range=0.02, layer_norm_eps=1e-05, projection_dim=PROJECTION_DIM)
    return {
        "architectures": ["CLIPModel"],
        "dtype": "float32",
        "initializer_factor": 1.0,
        "logit_scale_init_value": 2.6592,
        "model_type": "clip",
        "projection_dim": PROJECTION_DIM,
        "text_config": dict(common, **TEXT, model_type="clip_text_model",
                            bos_token_id=49406, eos_token_id=49407, pad_token_id=1),
        "vision_config": dict(common, **VISION, model_type="clip_vision_model"),
    }


def preprocessor_json(size: int) -> dict:
    return {
        "crop_size": {"height": size, "width": size},
        "do_center_crop": True,
        "do_convert_rgb": True,
        "do_normalize": True,
        "do_rescale": True,
        "do_resize": True,
        "image_mean": [0.48145466, 0.4578275, 0.40821073],
        "image_processor_type": "CLIPImageProcessor",
        "image_std": [0.26862954, 0.26130258, 0.27577711],
        "resample": 3,
        "rescale_factor": 0.00392156862745098,
        "size": {"shortest_edge": size},
    }


def tensors() -> dict[str, tuple[tuple[int, ...], str]]:
    """name -> (shape, init), the list of src/model/weights.rs expected()."""
    out: dict[str, tuple[tuple[int, ...], str]] = {}
    dv, dt, p = VISION["hidden_size"], TEXT["hidden_size"], PROJECTION_DIM
    ps, ch = VISION["patch_size"], VISION["num_channels"]
    tokens = (VISION["image_size"] // ps) ** 2 + 1

    def ln(name, d):
        out[f"{name}.weight"] = ((d,), "one")
        out[f"{name}.bias"] = ((d,), "zero")

    out["vision_model.embeddings.patch_embedding.weight"] = ((dv, ch, ps, ps), "normal")
    out["vision_model.embeddings.class_embedding"] = ((dv,), "normal")
    out["vision_model.embeddings.position_embedding.weight"] = ((tokens, dv), "normal")
    ln("vision_model.pre_layrnorm", dv)
    ln("vision_model.post_layernorm", dv)
    out["visual_projection.weight"] = ((p, dv), "normal")
    out["text_model.embeddings.token_embedding.weight"] = ((TEXT["vocab_size"], dt), "normal")
    out["text_model.embeddings.position_embedding.weight"] = ((TEXT["max_position_embeddings"], dt), "normal")
    ln("text_model.final_layer_norm", dt)
    out["text_projection.weight"] = ((p, dt), "normal")
    out["logit_scale"] = ((), "logit_scale")
    for prefix, c in [("vision_model.encoder", VISION), ("text_model.encoder", TEXT)]:
        d, f = c["hidden_size"], c["intermediate_size"]
        for i in range(c["num_hidden_layers"]):
            pre = f"{prefix}.layers.{i}"
            for name, n, k in [("self_attn.q_proj", d, d), ("self_attn.k_proj", d, d), ("self_attn.v_proj", d, d),
                               ("self_attn.out_proj", d, d), ("mlp.fc1", f, d), ("mlp.fc2", d, f)]:
                out[f"{pre}.{name}.weight"] = ((n, k), "normal")
                out[f"{pre}.{name}.bias"] = ((n,), "zero")
            ln(f"{pre}.layer_norm1", d)
            ln(f"{pre}.layer_norm2", d)
    return out


def write_safetensors(path: Path, specs: dict, rng: np.random.Generator) -> int:
    """Streams the tensors (sorted by name) to `path`; returns the file size."""
    names = sorted(specs)
    header: dict = {"__metadata__": {"format": "pt"}}
    offset = 0
    for name in names:
        shape, _ = specs[name]
        nbytes = 4 * math.prod(shape)
        header[name] = {"dtype": "F32", "shape": list(shape), "data_offsets": [offset, offset + nbytes]}
        offset += nbytes
    head = json.dumps(header, separators=(",", ":")).encode()
    head += b" " * (-len(head) % 8)  # the data starts 8-byte aligned, as safetensors writes it
    tmp = path.with_suffix(".tmp")
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(head)))
        f.write(head)
        for name in names:
            shape, init = specs[name]
            if init == "normal":
                a = rng.standard_normal(shape, dtype=np.float32)
                a *= np.float32(0.02)
            elif init == "one":
                a = np.ones(shape, np.float32)
            elif init == "zero":
                a = np.zeros(shape, np.float32)
            else:
                a = np.full(shape, LOGIT_SCALE, np.float32)
            f.write(np.ascontiguousarray(a, dtype="<f4").tobytes())
    tmp.replace(path)
    return 8 + len(head) + offset


def check_tokenizer(path: Path) -> None:
    tok = json.loads(path.read_text())
    vocab = len(tok["model"]["vocab"])
    if vocab != TEXT["vocab_size"]:
        raise SystemExit(f"{path} has {vocab} tokens, not CLIP's {TEXT['vocab_size']}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out_dir", nargs="?", default="/work/vitb32", type=Path)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    out: Path = args.out_dir
    out.mkdir(parents=True, exist_ok=True)
    check_tokenizer(TOKENIZER)
    (out / "config.json").write_text(json.dumps(config_json(), indent=2, sort_keys=True) + "\n")
    (out / "preprocessor_config.json").write_text(
        json.dumps(preprocessor_json(VISION["image_size"]), indent=2, sort_keys=True) + "\n")
    shutil.copyfile(TOKENIZER, out / "tokenizer.json")
    specs = tensors()
    size = write_safetensors(out / "model.safetensors", specs, np.random.default_rng(args.seed))
    n = sum(math.prod(s) for s, _ in specs.values())
    print(f"{out}: {len(specs)} tensors, {n:,} parameters, model.safetensors {size / 1e6:.1f} MB (seed {args.seed})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
