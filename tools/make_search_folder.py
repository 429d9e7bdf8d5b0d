#!/usr/bin/env python3
"""The folder the photo-search tests index (issue 19): tests/fixtures/search-photos/.

One drawn picture per colour and shape of the demo model's vocabulary
(train_demo.COLOURS x SHAPES, 40, in a subfolder per shape, hearts one level
deeper), planted near-duplicates of some of them in copies/ (a smaller
re-encoded JPEG, a lightly cropped and blurred PNG, an exact byte copy), a text
file and a broken JPEG. search-photos.json (beside the folder, so that the
folder holds only what a user's would) names each picture's colour and shape,
each planted pair and the files that must be skipped. Seeded; run by hand:

    tools/.venv/bin/python tools/make_search_folder.py
"""

from __future__ import annotations

import io
import json
import random
import shutil
from pathlib import Path

from PIL import ImageFilter

from train_demo import COLOURS, SHAPES, draw

OUT = Path(__file__).resolve().parent.parent / "tests/fixtures/search-photos"
SIDE = 128
# Copies of every third picture, the three kinds in turn.
KINDS = ["jpeg-smaller", "cropped-blurred", "exact"]


def folder(shape: str) -> str:
    return f"more/{shape}s" if shape == "heart" else f"{shape}s"


def main() -> None:
    if OUT.exists():
        shutil.rmtree(OUT)
    rng = random.Random(1919)
    pictures, pairs = {}, []
    for i, (colour, shape) in enumerate((c, s) for s in SHAPES for c in COLOURS):
        rel = f"{folder(shape)}/{colour}-{shape}.png"
        img = draw(rng, colour, shape, "large", rng.random() < 0.5, SIDE)
        (OUT / rel).parent.mkdir(parents=True, exist_ok=True)
        img.save(OUT / rel, optimize=True)
        pictures[rel] = f"{colour} {shape}"
        if i % 3:
            continue
        kind = KINDS[(i // 3) % len(KINDS)]
        copy = f"copies/{colour}-{shape}-{kind}." + ("jpg" if kind == "jpeg-smaller" else "png")
        (OUT / copy).parent.mkdir(parents=True, exist_ok=True)
        if kind == "jpeg-smaller":
            img.resize((SIDE * 3 // 4, SIDE * 3 // 4)).save(OUT / copy, quality=60)
        elif kind == "cropped-blurred":
            m = SIDE // 16
            img.crop((m, m, SIDE - m, SIDE - m)).filter(ImageFilter.GaussianBlur(1.2)).save(OUT / copy)
        else:
            shutil.copyfile(OUT / rel, OUT / copy)
        pictures[copy] = f"{colour} {shape}"
        pairs.append([rel, copy, kind])
    (OUT / "notes.txt").write_text("Not a picture: the indexer must skip it and say why.\n")
    jpeg = io.BytesIO()
    draw(rng, "red", "circle", "large", False, SIDE).save(jpeg, "JPEG")
    (OUT / "broken.jpg").write_bytes(jpeg.getvalue()[:300])
    expected = {
        "pictures": dict(sorted(pictures.items())),
        "pairs": pairs,
        "skipped": ["broken.jpg", "notes.txt"],
    }
    OUT.with_suffix(".json").write_text(json.dumps(expected, indent=2) + "\n")
    print(f"{OUT}: {len(pictures)} pictures, {len(pairs)} planted pairs")


if __name__ == "__main__":
    main()
