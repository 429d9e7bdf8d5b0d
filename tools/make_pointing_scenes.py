#!/usr/bin/env python3
"""Drawn scenes for the heatmap pointing game in the test command (issue 18):
tests/fixtures/pointing-scenes/NN.png, each with two or three shapes of distinct
colours and shapes (tools/heatmap_study.py's `scene`), and scenes.json naming each
shape's colour, shape, box in the picture's pixels and whether the demo model saw
that colour-shape pair in training (train_demo.HELD_OUT). Seeded; run by hand:

    tools/.venv/bin/python tools/make_pointing_scenes.py [--scenes 60] [--side 288]
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

from heatmap_study import scene
from train_demo import HELD_OUT

OUT = Path(__file__).resolve().parent.parent / "tests/fixtures/pointing-scenes"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--scenes", type=int, default=150)
    ap.add_argument("--side", type=int, default=192)
    ap.add_argument("--seed", type=int, default=1818)
    a = ap.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    rng = random.Random(a.seed)
    listing = []
    for i in range(a.scenes):
        first = rng.choice(sorted(HELD_OUT)) if i % 2 == 0 else None
        img, placed = scene(rng, a.side, first)
        name = f"{i:02d}.png"
        img.save(OUT / name, optimize=True)
        shapes = [
            {"colour": c, "shape": s, "box": [round(v, 2) for v in box], "held_out": (c, s) in HELD_OUT}
            for c, s, box in placed
        ]
        listing.append({"file": name, "shapes": shapes})
    (OUT / "scenes.json").write_text(json.dumps({"template": "a {}", "label": "{colour} {shape}", "scenes": listing}, indent=1) + "\n")
    print(f"{len(listing)} scenes, {sum(len(s['shapes']) for s in listing)} queries in {OUT}")


if __name__ == "__main__":
    main()
