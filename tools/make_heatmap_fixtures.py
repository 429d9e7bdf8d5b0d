#!/usr/bin/env python3
"""ClearCLIP heatmaps of the committed tiny fixtures in float64, the expectation
tests/model.rs checks both engines against (issue 18). Run by hand from the repo root
(torch; tools/requirements.txt):

    tools/.venv/bin/python tools/make_heatmap_fixtures.py

Writes tests/fixtures/<model>/expected/heatmaps.json (the cases) and
heatmap_<i>_{probs,cosines}.npy ([labels, rows * cols], row-major), computed by
tools/heatmap_reference.py on transformers' CLIPModel: its own input size (positions
as stored), 1.5x and 2x (positions interpolated as interpolate_pos_encoding does).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from transformers import CLIPImageProcessor, CLIPModel, CLIPTokenizer

from heatmap_reference import heatmaps, text_features

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests/fixtures"
LABELS = ["a cat", "a robot", "a rocket"]
TEMPLATE = "a photo of {}."
IMAGES = ["chelsea.png", "astronaut.png"]


def main() -> None:
    for name in ["tiny-clip", "tiny-clip-fp16-gelu"]:
        model_dir = FIXTURES / name
        model = CLIPModel.from_pretrained(model_dir, torch_dtype=torch.float64).eval()
        tokenizer = CLIPTokenizer.from_pretrained(model_dir)
        processor = CLIPImageProcessor.from_pretrained(model_dir)
        text = text_features(model, tokenizer, LABELS, TEMPLATE)
        base = model.config.vision_config.image_size
        patch = model.config.vision_config.patch_size
        cases = []
        for image in IMAGES:
            picture = Image.open(FIXTURES / "images" / image).convert("RGB")
            for size in [base, base * 3 // 2 // patch * patch, 2 * base]:
                pixels = processor(
                    images=picture,
                    size={"shortest_edge": size},
                    crop_size={"height": size, "width": size},
                    return_tensors="pt",
                ).pixel_values.to(torch.float64)
                rows, cols, cos, probs = heatmaps(model, pixels, text, "clearclip")
                i = len(cases)
                np.save(model_dir / "expected" / f"heatmap_{i}_probs.npy", np.ascontiguousarray(probs.T.numpy(), dtype=np.float64))
                np.save(model_dir / "expected" / f"heatmap_{i}_cosines.npy", np.ascontiguousarray(cos.T.numpy(), dtype=np.float64))
                cases.append({"image": image, "resolution": size, "rows": rows, "cols": cols})
                print(f"{name} {image} {size}px: {rows}x{cols}, max prob {probs.max().item():.4f}")
        listing = {"method": "clearclip", "labels": LABELS, "template": TEMPLATE, "cases": cases}
        (model_dir / "expected" / "heatmaps.json").write_text(json.dumps(listing, indent=1) + "\n")


if __name__ == "__main__":
    main()
