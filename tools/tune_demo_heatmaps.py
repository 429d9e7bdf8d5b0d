#!/usr/bin/env python3
"""Fine-tunes the trained demo model so that its ClearCLIP heatmaps point at the shape a
label names (issue 18's pointing game), keeping its classification. Run by hand
(torch; tools/requirements.txt), from tools/:

    ../tools/.venv/bin/python webclip_to_hf.py ../www/models/demo/model-q4.webclip /tmp/demo-hf
    ../tools/.venv/bin/python tune_demo_heatmaps.py /tmp/demo-hf /tmp/demo-tuned [--steps 400]

Each step adds to train_demo.py's contrastive loss (single shapes, seen pairs only) a dense
loss on scenes of two or three shapes (heatmap_study.scene, seen pairs only) drawn at the
heatmap's default input, twice the model's (96 px, positions interpolated as transformers'
interpolate_pos_encoding): every patch's ClearCLIP features (the last block with self-self
attention, no residual, no MLP; post_layernorm; visual_projection) are scored against the
scene's labels at the model's logit scale, a patch whose centre lies in a shape's box is
taught that shape's label, and a background patch no label (a uniform target). Held-out
colour-shape pairs appear in neither loss: the pointing game on them measures
generalisation.
"""

from __future__ import annotations

import argparse
import math
import random
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from transformers import CLIPModel

from heatmap_study import scene
from train_demo import IMAGE_SIZE, MEAN, SEEN, STD, Captions, contrastive_loss, evaluate, save

HEATMAP_SIZE = 2 * IMAGE_SIZE
PATCH = 8
LABEL_TEMPLATES = ["a {c} {s}", "a photo of a {c} {s}", "{c} {s}", "a picture of a {c} {s}"]


def scene_pixels(imgs) -> torch.Tensor:
    a = np.stack([np.asarray(i.resize((HEATMAP_SIZE, HEATMAP_SIZE), 3), dtype=np.float32) / 255.0 for i in imgs])
    return torch.from_numpy(((a - MEAN) / STD).transpose(0, 3, 1, 2).copy())


def dense_features(model: CLIPModel, px: torch.Tensor) -> torch.Tensor:
    """Unit ClearCLIP features of every patch: [B, P, D] (heatmap_reference.last_block, batched)."""
    vision = model.vision_model
    h = vision(pixel_values=px, output_hidden_states=True, interpolate_pos_encoding=True).hidden_states[-2]
    layer = vision.encoder.layers[-1]
    b, t, c = h.shape
    heads = model.config.vision_config.num_attention_heads
    x = layer.layer_norm1(h)
    q = layer.self_attn.q_proj(x).view(b, t, heads, c // heads).transpose(1, 2)
    v = layer.self_attn.v_proj(x).view(b, t, heads, c // heads).transpose(1, 2)
    mixed = torch.softmax(q @ q.transpose(-1, -2) / math.sqrt(c // heads), -1) @ v
    out = layer.self_attn.out_proj(mixed.transpose(1, 2).reshape(b, t, c))
    return F.normalize(model.visual_projection(vision.post_layernorm(out))[:, 1:], dim=-1)


def dense_loss(model: CLIPModel, tokens: Captions, rng: random.Random, scenes: int) -> torch.Tensor:
    imgs, placed = zip(*(scene(rng, HEATMAP_SIZE * rng.choice([1, 2]), allowed=SEEN) for _ in range(scenes)))
    patches = dense_features(model, scene_pixels(imgs))
    grid = HEATMAP_SIZE // PATCH
    scale = model.logit_scale.exp().clamp(max=100)
    # Every scene's labels in one text pass.
    texts = [rng.choice(LABEL_TEMPLATES).format(c=c, s=s) for shapes in placed for c, s, _ in shapes]
    embedded = F.normalize(model.get_text_features(input_ids=tokens(texts)).pooler_output, dim=-1)
    losses = []
    first = 0
    for img, shapes, p in zip(imgs, placed, patches):
        t = embedded[first : first + len(shapes)]
        first += len(shapes)
        logp = F.log_softmax(scale * p @ t.T, -1)  # [P, L]
        side = img.size[0]
        centres = (torch.arange(grid) + 0.5) * side / grid
        target = torch.full((grid * grid, len(shapes)), 1.0 / len(shapes))
        for i, (_, _, (x0, y0, x1, y1)) in enumerate(shapes):
            inside = ((centres[None, :] >= x0) & (centres[None, :] <= x1) & (centres[:, None] >= y0) & (centres[:, None] <= y1)).reshape(-1)
            target[inside] = F.one_hot(torch.tensor(i), len(shapes)).float()
        losses.append(-(target * logp).sum(-1).mean())
    return torch.stack(losses).mean()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("model", type=Path)
    ap.add_argument("out", type=Path)
    ap.add_argument("--steps", type=int, default=400)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--scenes", type=int, default=12)
    ap.add_argument("--lr", type=float, default=3e-4)
    ap.add_argument("--seed", type=int, default=18)
    a = ap.parse_args()
    torch.set_num_threads(2)
    torch.manual_seed(a.seed)
    rng = random.Random(a.seed)
    model = CLIPModel.from_pretrained(a.model, torch_dtype=torch.float32)
    model.train()
    tokens = Captions()
    opt = torch.optim.AdamW(model.parameters(), lr=a.lr, weight_decay=0.05, betas=(0.9, 0.98))
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 0.5 * (1 + math.cos(math.pi * min(s, a.steps) / a.steps)))
    for step in range(a.steps):
        contrastive = contrastive_loss(model, tokens, rng, a.batch)
        dense = dense_loss(model, tokens, rng, a.scenes)
        loss = contrastive + dense
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        if step % 50 == 0 or step == a.steps - 1:
            print(f"step {step}: contrastive {contrastive.item():.4f}, dense {dense.item():.4f}", flush=True)
    save(model, a.out)
    print(evaluate(a.out, 40, a.seed + 3))


if __name__ == "__main__":
    main()
