#!/usr/bin/env python3
"""Per-label heatmaps from a Hugging Face CLIP in float64: the reference webclip's
heatmaps will be checked against (issue 18). Run by hand (torch; tools/requirements.txt):

    tools/.venv/bin/python tools/heatmap_reference.py MODEL_DIR IMAGE --label "a cat" \\
        --label "a dog" [--method maskclip|sclip|clearclip] [--resolution PX] [--json]

Methods (docs/heatmap-methods.md has each one's definition, read from its authors' code):
only the last vision block changes, and every token then goes through `post_layernorm`
and `visual_projection`.
- maskclip: no attention (each token's own value, `out_proj(v_proj(LN1(h)))`); the
  block's residual, `layer_norm2` and MLP are kept.
- sclip: `softmax(q qᵀ/√d) + softmax(k kᵀ/√d)` over every token (class token included);
  residual, `layer_norm2` and MLP kept.
- clearclip: `softmax(q qᵀ/√d)`; no residual, no `layer_norm2`, no MLP.
- clip: the block as CLIP computes it. Used as a self-check: its class token must give
  `get_image_features` (asserted on every run, to 1e-10), so the hand-written block
  is known to read the weights as transformers does.

Scores: per patch, the cosine with each label's text embedding (the template applied),
then a softmax over the labels at the model's `logit_scale.exp()`. Both are printed.
The input is resized and center-cropped to --resolution (default: the model's own size)
by transformers' CLIPImageProcessor, and the position embeddings are interpolated as
`interpolate_pos_encoding=True` does (bicubic, class position kept).
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from transformers import CLIPImageProcessor, CLIPModel, CLIPTokenizer

METHODS = ("maskclip", "sclip", "clearclip", "clip")


def heads(x: torch.Tensor, n_heads: int) -> torch.Tensor:
    """[T, C] -> [H, T, C / H]."""
    t, c = x.shape
    return x.reshape(t, n_heads, c // n_heads).transpose(0, 1)


def last_block(layer, h: torch.Tensor, method: str, n_heads: int) -> torch.Tensor:
    """The last encoder layer over h ([T, C], the layer's input) as `method` computes it."""
    attn = layer.self_attn
    x = layer.layer_norm1(h)
    q, k, v = (heads(p(x), n_heads) for p in (attn.q_proj, attn.k_proj, attn.v_proj))
    scale = 1.0 / math.sqrt(q.shape[-1])
    if method == "maskclip":
        mixed = v
    elif method == "sclip":
        mixed = (torch.softmax(q @ q.transpose(1, 2) * scale, -1) + torch.softmax(k @ k.transpose(1, 2) * scale, -1)) @ v
    elif method == "clearclip":
        mixed = torch.softmax(q @ q.transpose(1, 2) * scale, -1) @ v
    else:
        mixed = torch.softmax(q @ k.transpose(1, 2) * scale, -1) @ v
    out = attn.out_proj(mixed.transpose(0, 1).reshape(h.shape))
    if method == "clearclip":
        return out
    z = h + out
    return z + layer.mlp(layer.layer_norm2(z))


@torch.no_grad()
def heatmaps(model: CLIPModel, pixels: torch.Tensor, text: torch.Tensor, method: str):
    """(rows, cols, cosines [P, L], probabilities [P, L]) for one image's pixels [1, 3, H, W]."""
    vision = model.vision_model
    out = vision(pixel_values=pixels, output_hidden_states=True, interpolate_pos_encoding=True)
    h = out.hidden_states[-2][0]
    n_heads = model.config.vision_config.num_attention_heads
    tokens = model.visual_projection(vision.post_layernorm(last_block(vision.encoder.layers[-1], h, method, n_heads)))
    if method == "clip":
        expected = model.get_image_features(pixel_values=pixels, interpolate_pos_encoding=True)
        expected = expected if isinstance(expected, torch.Tensor) else expected.pooler_output
        gap = (tokens[0] - expected[0]).abs().max().item()
        assert gap < 1e-10, f"the hand-written last block differs from transformers by {gap}"
    patch = model.config.vision_config.patch_size
    rows, cols = pixels.shape[2] // patch, pixels.shape[3] // patch
    patches = tokens[1:] / tokens[1:].norm(dim=-1, keepdim=True)
    cos = patches @ (text / text.norm(dim=-1, keepdim=True)).T
    probs = torch.softmax(model.logit_scale.exp() * cos, dim=-1)
    return rows, cols, cos, probs


@torch.no_grad()
def text_features(model: CLIPModel, tokenizer, labels: list[str], template: str) -> torch.Tensor:
    ids = tokenizer([template.replace("{}", label) for label in labels], padding=True, return_tensors="pt")
    out = model.get_text_features(**ids)
    return out if isinstance(out, torch.Tensor) else out.pooler_output


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("model", type=Path)
    ap.add_argument("image", type=Path)
    ap.add_argument("--label", action="append", required=True)
    ap.add_argument("--template", default="a photo of {}.")
    ap.add_argument("--method", choices=METHODS, default="maskclip")
    ap.add_argument("--resolution", type=int)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    model = CLIPModel.from_pretrained(a.model, torch_dtype=torch.float64).eval()
    tokenizer = CLIPTokenizer.from_pretrained(a.model)
    processor = CLIPImageProcessor.from_pretrained(a.model)
    size = a.resolution or model.config.vision_config.image_size
    pixels = processor(
        images=Image.open(a.image).convert("RGB"),
        size={"shortest_edge": size},
        crop_size={"height": size, "width": size},
        return_tensors="pt",
    ).pixel_values.to(torch.float64)
    text = text_features(model, tokenizer, a.label, a.template)
    rows, cols, cos, probs = heatmaps(model, pixels, text, a.method)
    if a.json:
        maps = probs.T.numpy().tolist()
        print(json.dumps({"labels": a.label, "method": a.method, "rows": rows, "cols": cols, "maps": maps, "cosines": cos.T.numpy().tolist()}))
        return
    for i, label in enumerate(a.label):
        grid = probs[:, i].reshape(rows, cols).numpy()
        peak = np.unravel_index(grid.argmax(), grid.shape)
        print(f"{label}: {rows} x {cols}, highest cell (row {peak[0]}, col {peak[1]}) p={grid.max():.4f}")
        for r in range(rows):
            print("  " + " ".join(f"{v:.2f}" for v in grid[r]))


if __name__ == "__main__":
    main()
