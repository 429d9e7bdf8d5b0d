#!/usr/bin/env python3
"""Trains webclip's demo model: a small CLIP, from scratch, on pictures of
shapes it draws itself, so that the page's first run gives meaningful answers
with no download.

Developer-machine only (torch; tools/requirements.txt), run by hand, seeded:

    python3 tools/train_demo.py --out /work/demo-clip        # train (about 30 min on 2 cores)
    python3 tools/train_demo.py --out /work/demo-clip --eval # accuracy of a trained model (transformers, f32)
    python3 tools/train_demo.py --out /work/demo-clip --samples www/models/demo/samples --testset tests/fixtures/demo-shapes
    python3 tools/train_demo.py --engine /work/demo-clip www/models/demo/model-q8.webclip   # accuracy through webclip

The model is a Hugging Face `CLIPModel` (config.json, model.safetensors, the
real CLIP tokenizer.json, preprocessor_config.json), so every loader path
applies unchanged. Pictures: SHAPES x COLOURS, small or large, anywhere in the
frame, on a light or a dark background, drawn at 1x to 3x the model's input
size and resized as the image processor resizes (bicubic). Captions name the
colour and shape in varied phrasings, some with the size or the background.
HELD_OUT colour-shape pairs never appear in training: classifying them shows
zero-shot generalisation (the model has seen each colour and each shape, never
that pair).

Training is contrastive as CLIP's, with one change: two pictures of the same
colour and shape in a batch are not negatives of each other's captions (soft
targets spread over every caption of the pair).
"""

from __future__ import annotations

import argparse
import json
import math
import random
import shutil
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw
from tokenizers import Tokenizer
from transformers import CLIPConfig, CLIPModel

ROOT = Path(__file__).resolve().parent.parent
TOKENIZER = ROOT / "tests/fixtures/tokenizer/tokenizer.json"

SHAPES = ["circle", "square", "triangle", "star", "heart"]
COLOURS = {
    "red": (220, 35, 35),
    "orange": (245, 140, 20),
    "yellow": (245, 215, 30),
    "green": (40, 165, 60),
    "blue": (40, 85, 225),
    "purple": (135, 55, 185),
    "pink": (250, 135, 195),
    "brown": (125, 75, 35),
}
# One pair per shape, each colour at most once: every colour and every shape is
# still seen with the others.
HELD_OUT = {("purple", "circle"), ("orange", "square"), ("green", "triangle"), ("blue", "star"), ("pink", "heart")}
SEEN = [(c, s) for c in COLOURS for s in SHAPES if (c, s) not in HELD_OUT]
IMAGE_SIZE = 48
MEAN = np.array([0.48145466, 0.4578275, 0.40821073], dtype=np.float32)
STD = np.array([0.26862954, 0.26130258, 0.27577711], dtype=np.float32)

TEMPLATES = [
    "a {c} {s}",
    "a photo of a {c} {s}",
    "a drawing of a {c} {s}",
    "a picture of a {c} {s}",
    "{c} {s}",
    "the {s} is {c}",
    "a {size} {c} {s}",
    "a photo of a {size} {c} {s}",
    "a {c} {s} on a {bg} background",
    "a photo of a {size} {c} {s} on {bg2}",
    "a {c} {s} shape",
    "an image of a {c} {s}",
]


def polygon(shape: str, cx: float, cy: float, r: float, angle: float) -> list[tuple[float, float]]:
    if shape == "square":
        pts = [(math.cos(angle + math.pi / 4 + k * math.pi / 2), math.sin(angle + math.pi / 4 + k * math.pi / 2)) for k in range(4)]
        pts = [(x * 0.9, y * 0.9) for x, y in pts]
    elif shape == "triangle":
        pts = [(math.cos(angle - math.pi / 2 + k * 2 * math.pi / 3), math.sin(angle - math.pi / 2 + k * 2 * math.pi / 3)) for k in range(3)]
    elif shape == "star":
        pts = []
        for k in range(10):
            rad = 1.0 if k % 2 == 0 else 0.42
            a = angle - math.pi / 2 + k * math.pi / 5
            pts.append((rad * math.cos(a), rad * math.sin(a)))
    elif shape == "heart":
        pts = []
        for k in range(60):
            t = 2 * math.pi * k / 60
            x = 16 * math.sin(t) ** 3
            y = 13 * math.cos(t) - 5 * math.cos(2 * t) - 2 * math.cos(3 * t) - math.cos(4 * t)
            pts.append((x / 17, -y / 17 - 0.05))
        ca, sa = math.cos(angle * 0.3), math.sin(angle * 0.3)  # hearts stay mostly upright
        pts = [(x * ca - y * sa, x * sa + y * ca) for x, y in pts]
    else:
        raise ValueError(shape)
    return [(cx + r * x, cy + r * y) for x, y in pts]


def draw(rng: random.Random, colour: str, shape: str, size: str, dark: bool, side: int) -> Image.Image:
    """One picture, `side` pixels square."""
    if dark:
        g = rng.randint(0, 45)
        bg = (g, g + rng.randint(0, 8), g + rng.randint(0, 10))
    else:
        g = rng.randint(212, 255)
        bg = (g, g - rng.randint(0, 10), g - rng.randint(0, 18))
    img = Image.new("RGB", (side, side), bg)
    d = ImageDraw.Draw(img)
    r = side * (rng.uniform(0.17, 0.26) if size == "small" else rng.uniform(0.33, 0.45))
    cx, cy = rng.uniform(r, side - r), rng.uniform(r, side - r)
    fill = tuple(int(np.clip(v + rng.randint(-18, 18), 0, 255)) for v in COLOURS[colour])
    if shape == "circle":
        d.ellipse([cx - r, cy - r, cx + r, cy + r], fill=fill)
    else:
        d.polygon(polygon(shape, cx, cy, r, rng.uniform(-0.35, 0.35)), fill=fill)
    return img


def to_input(img: Image.Image) -> Image.Image:
    """The picture as the image processor hands it to the model: bicubic to IMAGE_SIZE (square: no crop)."""
    return img if img.size[0] == IMAGE_SIZE else img.resize((IMAGE_SIZE, IMAGE_SIZE), Image.BICUBIC)


def pixels(imgs: list[Image.Image]) -> torch.Tensor:
    a = np.stack([np.asarray(to_input(i), dtype=np.float32) / 255.0 for i in imgs])
    return torch.from_numpy(((a - MEAN) / STD).transpose(0, 3, 1, 2).copy())


def caption(rng: random.Random, colour: str, shape: str, size: str, dark: bool) -> str:
    t = rng.choice(TEMPLATES)
    return t.format(c=colour, s=shape, size=size, bg="dark" if dark else "light", bg2=rng.choice(["black", "dark"] if dark else ["white", "light"]))


class Captions:
    """Token ids through the real CLIP tokenizer, padded with <|endoftext|> (49407) to the batch's longest."""

    def __init__(self) -> None:
        self.tok = Tokenizer.from_file(str(TOKENIZER))
        self.cache: dict[str, list[int]] = {}

    def __call__(self, texts: list[str]) -> torch.Tensor:
        ids = [self.cache.setdefault(t, self.tok.encode(t).ids[:77]) for t in texts]
        n = max(len(i) for i in ids)
        return torch.tensor([i + [49407] * (n - len(i)) for i in ids])


def config() -> CLIPConfig:
    common = dict(hidden_size=128, intermediate_size=512, num_hidden_layers=4, num_attention_heads=4, hidden_act="quick_gelu")
    return CLIPConfig(
        text_config=dict(common, vocab_size=49408, max_position_embeddings=77, bos_token_id=49406, eos_token_id=49407, pad_token_id=49407),
        vision_config=dict(common, image_size=IMAGE_SIZE, patch_size=8, num_channels=3),
        projection_dim=128,
    )


def batch(rng: random.Random, n: int, pairs: list[tuple[str, str]]):
    imgs, texts, classes = [], [], []
    for _ in range(n):
        colour, shape = rng.choice(pairs)
        size, dark = rng.choice(["small", "large"]), rng.random() < 0.5
        imgs.append(draw(rng, colour, shape, size, dark, IMAGE_SIZE * rng.choice([1, 2, 3])))
        texts.append(caption(rng, colour, shape, size, dark))
        classes.append(pairs.index((colour, shape)))
    return imgs, texts, torch.tensor(classes)


def contrastive_loss(model: CLIPModel, tokens: Captions, rng: random.Random, n: int) -> torch.Tensor:
    """CLIP's loss on a batch of `n` drawn pictures of seen pairs and their captions, with
    soft targets: pictures of the same pair are not each other's negatives."""
    imgs, texts, classes = batch(rng, n, SEEN)
    img = F.normalize(model.get_image_features(pixel_values=pixels(imgs)).pooler_output, dim=-1)
    txt = F.normalize(model.get_text_features(input_ids=tokens(texts)).pooler_output, dim=-1)
    logits = model.logit_scale.exp().clamp(max=100) * img @ txt.T
    same = (classes[:, None] == classes[None, :]).float()
    targets = same / same.sum(1, keepdim=True)
    return (torch.sum(-targets * F.log_softmax(logits, 1), 1).mean() + torch.sum(-targets * F.log_softmax(logits.T, 1), 1).mean()) / 2


def train(out: Path, steps: int, batch_size: int, seed: int) -> None:
    torch.manual_seed(seed)
    rng = random.Random(seed)
    model = CLIPModel(config())
    tokens = Captions()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.05, betas=(0.9, 0.98))
    warmup = max(1, steps // 20)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / warmup) * 0.5 * (1 + math.cos(math.pi * min(s, steps) / steps)))
    model.train()
    for step in range(steps):
        loss = contrastive_loss(model, tokens, rng, batch_size)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        if step % 100 == 0 or step == steps - 1:
            print(f"step {step}: loss {loss.item():.4f}, scale {model.logit_scale.exp().item():.1f}, lr {sched.get_last_lr()[0]:.2e}", flush=True)
    save(model, out)


def save(model: CLIPModel, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out, safe_serialization=True)
    shutil.copyfile(TOKENIZER, out / "tokenizer.json")
    pre = json.loads((ROOT / "tests/fixtures/tiny-clip/preprocessor_config.json").read_text())
    pre["crop_size"] = {"height": IMAGE_SIZE, "width": IMAGE_SIZE}
    pre["size"] = {"shortest_edge": IMAGE_SIZE}
    (out / "preprocessor_config.json").write_text(json.dumps(pre, indent=2) + "\n")


LABELS = [f"{c} {s}" for c in COLOURS for s in SHAPES]


@torch.no_grad()
def evaluate(out: Path, per_class: int, seed: int) -> dict:
    """Top-1 among every colour x shape label ('a photo of a {colour} {shape}'), on freshly drawn pictures."""
    model = CLIPModel.from_pretrained(out).eval()
    tokens = Captions()
    txt = F.normalize(model.get_text_features(input_ids=tokens([f"a photo of a {l}" for l in LABELS])).pooler_output, dim=-1)
    rng = random.Random(seed)
    result = {}
    for name, pairs in [("seen", SEEN), ("held_out", sorted(HELD_OUT))]:
        correct = total = 0
        for colour, shape in pairs:
            imgs = [draw(rng, colour, shape, rng.choice(["small", "large"]), rng.random() < 0.5, IMAGE_SIZE * rng.choice([1, 2, 4])) for _ in range(per_class)]
            img = F.normalize(model.get_image_features(pixel_values=pixels(imgs)).pooler_output, dim=-1)
            pred = (img @ txt.T).argmax(1)
            correct += int((pred == LABELS.index(f"{colour} {shape}")).sum())
            total += per_class
        result[name] = correct / total
    return result


def engine_accuracy(model_file: Path, per_class: int, seed: int) -> dict:
    """Top-1 through webclip itself (`webclip embed-image` / `embed-text`, release build) on
    freshly drawn pictures, seen and held-out pairs, among every label."""
    import subprocess
    import tempfile

    webclip = ROOT / "target/release/webclip"
    run = lambda *args: json.loads(subprocess.run([str(webclip), *args, "--model", str(model_file), "--json"], check=True, capture_output=True, text=True).stdout)["embeddings"]
    txt = np.array(run("embed-text", *[f"a photo of a {l}" for l in LABELS]))
    txt /= np.linalg.norm(txt, axis=1, keepdims=True)
    rng = random.Random(seed)
    result = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, pairs in [("seen", SEEN), ("held_out", sorted(HELD_OUT))]:
            files, truth = [], []
            for colour, shape in pairs:
                for i in range(per_class):
                    path = Path(tmp) / f"{name}-{colour}-{shape}-{i}.png"
                    draw(rng, colour, shape, rng.choice(["small", "large"]), rng.random() < 0.5, IMAGE_SIZE * rng.choice([1, 2, 4])).save(path)
                    files.append(str(path))
                    truth.append(LABELS.index(f"{colour} {shape}"))
            img = np.array(run("embed-image", *files))
            pred = (img @ txt.T).argmax(1)
            result[name] = float((pred == np.array(truth)).mean())
    return result


def write_images(dir: Path, pairs: list[tuple[str, str]], count: int, seed: int, side: int) -> None:
    """`count` pictures of `pairs` (cycled), and labels.json naming each one's colour and shape."""
    dir.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    labels = {}
    for i in range(count):
        colour, shape = pairs[i % len(pairs)]
        size, dark = rng.choice(["small", "large"]), rng.random() < 0.5
        name = f"{i:02d}-{size}-{colour}-{shape}-on-{'dark' if dark else 'light'}.png"
        draw(rng, colour, shape, size, dark, side).save(dir / name, optimize=True)
        labels[name] = f"{colour} {shape}"
    (dir / "labels.json").write_text(json.dumps({"labels": LABELS, "images": labels}, indent=2) + "\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=Path("/work/demo-clip"))
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--batch", type=int, default=192)
    ap.add_argument("--seed", type=int, default=20261127)
    ap.add_argument("--eval", action="store_true", help="only evaluate the model in --out")
    ap.add_argument("--samples", type=Path, help="write the page's sample pictures here")
    ap.add_argument("--testset", type=Path, help="write the 40 seen-combination test pictures here")
    ap.add_argument("--engine", type=Path, nargs="+", help="accuracy of these model files (or directories) through webclip itself")
    args = ap.parse_args()
    torch.set_num_threads(2)
    if args.samples or args.testset:
        if args.samples:
            # A few of each kind, held-out pairs included, at a size a page shows well.
            write_images(args.samples, [("red", "circle"), ("blue", "square"), ("yellow", "star"), ("green", "heart"), ("purple", "triangle"), ("purple", "circle")], 6, args.seed + 1, 192)
        if args.testset:
            # Seen pairs only, every one drawn (no filtering), a fixed seed.
            write_images(args.testset, SEEN, 40, args.seed + 2, 96)
        return
    if args.engine:
        for path in args.engine:
            print(path, json.dumps(engine_accuracy(path, 20, args.seed + 4)), flush=True)
        return
    if not args.eval:
        train(args.out, args.steps, args.batch, args.seed)
    print(json.dumps(evaluate(args.out, 40, args.seed + 3)))


if __name__ == "__main__":
    sys.exit(main())
