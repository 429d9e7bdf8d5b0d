#!/usr/bin/env python3
"""Does a heatmap method point at the named shape? The pointing game of issue 18, on
freshly drawn scenes of two or three shapes, for each method of heatmap_reference.py
and each input resolution. Run by hand (torch; tools/requirements.txt):

    tools/.venv/bin/python tools/webclip_to_hf.py www/models/demo/model-q4.webclip /tmp/demo-hf
    tools/.venv/bin/python tools/heatmap_study.py /tmp/demo-hf [--scenes 100] [--resolution 48 96]

A query is one shape of a scene, labelled "a {colour} {shape}" among the labels of the
scene's shapes; it scores a hit when the highest cell of its map has its centre inside
the shape's box widened by half a cell on each side. Pairs the demo model never saw in
training (train_demo.HELD_OUT) are counted apart.
"""

from __future__ import annotations

import argparse
import random
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw
from transformers import CLIPModel, CLIPTokenizer

from heatmap_reference import METHODS, heatmaps, text_features
from train_demo import COLOURS, HELD_OUT, MEAN, SHAPES, STD, polygon


def scene(rng: random.Random, side: int, first: tuple[str, str] | None = None, allowed=None):
    """A picture of 2 or 3 shapes of distinct colour-shape pairs that do not overlap, and
    for each its (colour, shape, box) with the box in pixels (x0, y0, x1, y1); `first`,
    a colour-shape pair drawn first (so always present); `allowed`, the pairs to draw
    from (default: every pair)."""
    dark = rng.random() < 0.5
    g = rng.randint(0, 45) if dark else rng.randint(212, 255)
    img = Image.new("RGB", (side, side), (g, g, g))
    d = ImageDraw.Draw(img)
    placed: list[tuple[str, str, tuple[float, float, float, float]]] = []
    pairs = [(c, s) for c in COLOURS for s in SHAPES if allowed is None or (c, s) in allowed]
    rng.shuffle(pairs)
    if first is not None:
        pairs.remove(first)
        pairs.insert(0, first)
    want = rng.choice([2, 3])
    for colour, shape in pairs:
        if len(placed) == want:
            break
        if any(colour == c or shape == s for c, s, _ in placed):
            continue  # each shape named by a unique colour and a unique shape
        r = side * rng.uniform(0.13, 0.2)
        for _ in range(50):
            cx, cy = rng.uniform(r, side - r), rng.uniform(r, side - r)
            box = (cx - r, cy - r, cx + r, cy + r)
            if all(box[2] < b[0] or b[2] < box[0] or box[3] < b[1] or b[3] < box[1] for _, _, b in placed):
                break
        else:
            continue
        fill = COLOURS[colour]
        if shape == "circle":
            d.ellipse(box, fill=fill)
        else:
            pts = polygon(shape, cx, cy, r, rng.uniform(-0.35, 0.35))
            d.polygon(pts, fill=fill)
            xs, ys = [p[0] for p in pts], [p[1] for p in pts]
            box = (min(xs), min(ys), max(xs), max(ys))
        placed.append((colour, shape, box))
    return img, placed


def pixels(img: Image.Image, size: int) -> torch.Tensor:
    """As the demo's image processor: bicubic to size (square: no crop), CLIP's mean and std."""
    a = np.asarray(img.resize((size, size), Image.BICUBIC), dtype=np.float64) / 255.0
    return torch.from_numpy(((a - MEAN) / STD).transpose(2, 0, 1)[None].copy())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("model", type=Path)
    ap.add_argument("--scenes", type=int, default=100)
    ap.add_argument("--resolution", type=int, nargs="+", default=[48, 96])
    ap.add_argument("--seed", type=int, default=18)
    a = ap.parse_args()
    model = CLIPModel.from_pretrained(a.model, torch_dtype=torch.float64).eval()
    tokenizer = CLIPTokenizer.from_pretrained(a.model)
    patch = model.config.vision_config.patch_size
    for size in a.resolution:
        rng = random.Random(a.seed)
        hits = {m: {"seen": [0, 0], "held out": [0, 0]} for m in METHODS}
        chance = []  # per query: the share of cells that would score a hit
        for _ in range(a.scenes):
            img, placed = scene(rng, 3 * size)
            labels = [f"{c} {s}" for c, s, _ in placed]
            text = text_features(model, tokenizer, labels, "a {}")
            x = pixels(img, size)
            scale = size / img.size[0]
            grid = size // patch
            centres = (np.arange(grid) + 0.5) * patch
            for _, _, box in placed:
                x0, y0, x1, y1 = (v * scale for v in box)
                inside_x = (centres >= x0 - patch / 2) & (centres <= x1 + patch / 2)
                inside_y = (centres >= y0 - patch / 2) & (centres <= y1 + patch / 2)
                chance.append(inside_x.mean() * inside_y.mean())
            for method in METHODS:
                rows, cols, _, probs = heatmaps(model, x, text, method)
                for i, (colour, shape, box) in enumerate(placed):
                    cell = int(probs[:, i].argmax())
                    cy, cx = (cell // cols + 0.5) * patch, (cell % cols + 0.5) * patch
                    x0, y0, x1, y1 = (v * scale for v in box)
                    hit = x0 - patch / 2 <= cx <= x1 + patch / 2 and y0 - patch / 2 <= cy <= y1 + patch / 2
                    tally = hits[method]["held out" if (colour, shape) in HELD_OUT else "seen"]
                    tally[0] += hit
                    tally[1] += 1
        print(f"{size} px ({grid} x {grid}), a random cell: {100 * np.mean(chance):.0f}%")
        for method in METHODS:
            parts = ", ".join(f"{k} {h}/{n} ({100 * h / max(n, 1):.0f}%)" for k, (h, n) in hits[method].items())
            print(f"{size} px ({grid} x {grid}), {method:9s}: {parts}")


if __name__ == "__main__":
    main()
