#!/usr/bin/env python3
"""A random-weight ViT-L/14 CLIP in fp16, Hub layout (not committed): to check
that the largest supported model loads and classifies (in the browser too).

    tools/.venv/bin/python tools/make_vitl14.py [OUT_DIR]   # default /work/vitl14

Architecture of openai/clip-vit-large-patch14 (428 M parameters, 855 MB in
fp16); tokenizer.json and preprocessor_config.json are copied from the
full-size ViT-B/32 that tools/make_vitb32.py writes (same tokenizer; 224 px).
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import torch
from transformers import CLIPConfig, CLIPModel

VITB32 = "/work/vitb32"  # tools/make_vitb32.py's default output


def main(out: Path) -> None:
    torch.manual_seed(14)
    config = CLIPConfig(
        text_config=dict(hidden_size=768, intermediate_size=3072, num_attention_heads=12, num_hidden_layers=12),
        vision_config=dict(hidden_size=1024, intermediate_size=4096, num_attention_heads=16, num_hidden_layers=24, patch_size=14, image_size=224),
        projection_dim=768,
    )
    model = CLIPModel(config).half()
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out, safe_serialization=True, max_shard_size="4GB")
    # Same tokenizer and 224 px preprocessing as the full-size ViT-B/32 (tools/make_vitb32.py).
    for name in ["tokenizer.json", "preprocessor_config.json"]:
        shutil.copy(Path(VITB32) / name, out / name)
    print(f"{out}: {sum(p.numel() for p in model.parameters()) / 1e6:.0f} M parameters")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "/work/vitl14"))
