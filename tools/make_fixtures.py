#!/usr/bin/env python3
"""Write the random-weight CLIP test fixtures and their reference outputs.

Developer-machine only (never run in CI). Needs the versions pinned in
tools/requirements.txt: the random weights are a function of the seed *and* of
the torch/transformers versions, so other versions produce different (but
equally valid) fixtures.

    python3 tools/make_fixtures.py            # (re)write tests/fixtures/tiny-clip*
    python3 tools/make_fixtures.py --verify   # recompute everything from the files
                                              # on disk and compare, write nothing

Layout written (exact Hugging Face Hub layout plus `expected/`):

    tests/fixtures/images/{chelsea.png,rocket.jpg,astronaut.png}  (scikit-image, byte-for-byte)
    tests/fixtures/images/rgba_transparency.png                   (synthetic, made here)
    tests/fixtures/<model>/config.json                             (CLIPModel.save_pretrained)
    tests/fixtures/<model>/model.safetensors
    tests/fixtures/<model>/preprocessor_config.json
    tests/fixtures/<model>/tokenizer.json    (copy of, or relative symlink to, ../tokenizer/tokenizer.json)
    tests/fixtures/<model>/expected/cases.json
    tests/fixtures/<model>/expected/*.npy

The reference is computed by transformers in float64 (`model.double()`, SDPA
attention, cross-checked against an eager float64 attention) from the weights as stored on disk (fp16 weights are loaded as fp16,
then widened), on pixel values from the Pillow image processor
(`CLIPImageProcessorPil`, not the torchvision one) and on the Hub tokenizer.

The random weights are transformers' init (seeded) followed by perturb_weights():
random biases and LayerNorm parameters, stronger MLP/residual branches and a
shared direction in the final LayerNorms, so that the fixtures can tell apart
what a port might get wrong (sensitivity_checks() asserts it).

tools/make_vitb32.py reuses this module for a full-size random ViT-B/32.
"""

from __future__ import annotations

import argparse
import dataclasses
import filecmp
import json
import math
import os
import shutil
import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image

import transformers
from transformers import CLIPConfig, CLIPModel, CLIPTokenizer

try:  # transformers >= 5: the Pillow backend has its own class
    from transformers import CLIPImageProcessorPil as SlowImageProcessor
except ImportError:  # transformers 4.x: CLIPImageProcessor is the Pillow one
    from transformers import CLIPImageProcessor as SlowImageProcessor

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "tests" / "fixtures"
IMAGES_DIR = FIXTURES / "images"
TOKENIZER_JSON = FIXTURES / "tokenizer" / "tokenizer.json"

START_ID = 49406
END_ID = 49407
CONTEXT = 77
LN_100 = math.log(100.0)
OPENAI_MEAN = [0.48145466, 0.4578275, 0.40821073]
OPENAI_STD = [0.26862954, 0.26130258, 0.27577711]

SKIMAGE_IMAGES = ["chelsea.png", "rocket.jpg", "astronaut.png"]
SYNTHETIC_IMAGE = "rgba_transparency.png"

# Budget for everything under tests/fixtures/tiny-clip*.
TINY_BUDGET_BYTES = 8 * 1024 * 1024


def long_text(n_words: int = 300) -> str:
    """A deterministic ~300-word paragraph (well past the 77-token context)."""
    base = (
        "the quick brown fox jumps over the lazy dog while a small robot named wall-e "
        "collects rusty cans under a grey sky and dreams of plants growing in old boots "
        "near the quiet harbour where ships made of steel and glass wait for the morning "
        "tide to carry them past lighthouses cats and children"
    ).split()
    words = [base[i % len(base)] for i in range(n_words)]
    return " ".join(words) + "."


TINY_TEXTS = [
    "a robot",
    "wall-e",
    "a photo of a cat",
    long_text(300),
    "a photo of a <|endoftext|> dog",
    "",
    "🤖 ロボット 机器人 and a 🐱 猫",
    "  A   PHOTO of\tWall-E &amp; EVE!! 1234 ",
]


# transformers' init leaves every bias at 0 and every LayerNorm at (1, 0): an
# implementation that ignored them would still match. It also keeps the residual
# branches small, so the activation function and LayerNorm eps hardly matter, and
# random features of a tiny model give nearly one-hot probabilities at logit scale
# 100. perturb_weights() fixes all of that, deterministically:
PERTURB = dict(
    ln_weight_std=0.3,  # LayerNorm weight = 1 + N(0, this)
    ln_bias_std=0.2,  # LayerNorm bias = N(0, this)
    linear_bias_std=0.1,  # every Linear bias = N(0, this)
    mlp_gain=3.0,  # fc1 weights multiplied by this: pre-activations reach the non-linear region
    branch_gain=2.0,  # out_proj and fc2 weights multiplied by this: residual branches matter
    common_bias=4.0,  # final LayerNorms' bias += N(0, this): a shared direction (as in real CLIP)
)


def perturb_weights(model: CLIPModel, seed: int, p: dict) -> None:
    gen = torch.Generator().manual_seed(seed)

    def randn(t):
        return torch.randn(t.shape, generator=gen, dtype=torch.float32).to(t.dtype)

    with torch.no_grad():
        for name, mod in model.named_modules():
            if isinstance(mod, torch.nn.LayerNorm):
                mod.weight.copy_(1.0 + p["ln_weight_std"] * randn(mod.weight))
                mod.bias.copy_(p["ln_bias_std"] * randn(mod.bias))
            elif isinstance(mod, torch.nn.Linear):
                if mod.bias is not None:
                    mod.bias.copy_(p["linear_bias_std"] * randn(mod.bias))
                if name.endswith("mlp.fc1"):
                    mod.weight.mul_(p["mlp_gain"])
                if name.endswith("mlp.fc2") or name.endswith("self_attn.out_proj"):
                    mod.weight.mul_(p["branch_gain"])
        for ln in (model.vision_model.post_layernorm, model.text_model.final_layer_norm):
            ln.bias.add_(p["common_bias"] * randn(ln.bias))


@dataclasses.dataclass
class Spec:
    """One fixture model."""

    name: str
    out_dir: Path
    config: dict  # kwargs for CLIPConfig
    seed: int
    dtype: torch.dtype  # storage dtype on disk
    images: list[str]  # file names in IMAGES_DIR
    texts: list[str]
    preprocessor_style: str  # "new" (dict sizes, as save_pretrained writes) or "old" (ints, Hub of 2021)
    # Post-init changes to the random weights (see perturb_weights); None = plain init.
    perturb: dict | None = dataclasses.field(default_factory=lambda: dict(PERTURB))


def tiny_specs() -> list[Spec]:
    all_images = SKIMAGE_IMAGES + [SYNTHETIC_IMAGE]
    return [
        Spec(
            name="tiny-clip",
            out_dir=FIXTURES / "tiny-clip",
            seed=1234,
            dtype=torch.float32,
            config=dict(
                text_config=dict(
                    vocab_size=49408,
                    hidden_size=16,
                    num_attention_heads=2,
                    intermediate_size=52,
                    num_hidden_layers=2,
                    max_position_embeddings=77,
                    hidden_act="quick_gelu",
                ),
                vision_config=dict(
                    hidden_size=44,
                    num_attention_heads=4,
                    intermediate_size=97,
                    num_hidden_layers=2,
                    image_size=42,
                    patch_size=7,
                    hidden_act="quick_gelu",
                ),
                projection_dim=24,
                logit_scale_init_value=LN_100,
            ),
            images=all_images,
            texts=TINY_TEXTS,
            preprocessor_style="new",
        ),
        Spec(
            name="tiny-clip-fp16-gelu",
            out_dir=FIXTURES / "tiny-clip-fp16-gelu",
            seed=5678,
            dtype=torch.float16,
            config=dict(
                text_config=dict(
                    vocab_size=49408,
                    hidden_size=12,
                    num_attention_heads=3,
                    intermediate_size=40,
                    num_hidden_layers=1,
                    max_position_embeddings=77,
                    hidden_act="gelu",
                    # legacy ids as in the openai/* Hub configs: eos_token_id == 2
                    # switches transformers to the argmax pooling rule
                    bos_token_id=0,
                    eos_token_id=2,
                    pad_token_id=1,
                    # non-default eps, different in each tower (token embeddings are
                    # small, so the text tower is sensitive to it)
                    layer_norm_eps=1e-6,
                ),
                vision_config=dict(
                    hidden_size=30,
                    num_attention_heads=3,
                    intermediate_size=70,
                    num_hidden_layers=3,
                    image_size=32,
                    patch_size=16,
                    hidden_act="gelu",
                    layer_norm_eps=1e-4,
                ),
                projection_dim=10,
                logit_scale_init_value=LN_100,
            ),
            images=all_images,
            texts=TINY_TEXTS,
            preprocessor_style="old",
        ),
    ]


# ----------------------------------------------------------------------------- images


def skimage_data_dir() -> Path:
    import skimage

    return Path(skimage.__file__).resolve().parent / "data"


def make_synthetic_rgba() -> Image.Image:
    """61x37 RGBA: fully transparent left third (with saturated colour underneath,
    so dropping alpha and compositing on white give very different pixels), an
    alpha ramp in the middle, opaque right part. Deterministic."""
    w, h = 61, 37
    y, x = np.mgrid[0:h, 0:w]
    r = (x * 255 // (w - 1)).astype(np.uint8)
    g = (y * 255 // (h - 1)).astype(np.uint8)
    b = (((x // 4 + y // 4) % 2) * 200 + 30).astype(np.uint8)
    a = np.full((h, w), 255, dtype=np.int64)
    a[:, : w // 3] = 0
    mid = (x >= w // 3) & (x < 2 * w // 3)
    a[mid] = ((x[mid] - w // 3) * 255 // (w // 3)).astype(np.int64)
    # a partly transparent disc in the opaque part
    disc = (x - 50) ** 2 + (y - 18) ** 2 < 8**2
    a[disc] = 96
    rgba = np.stack([r, g, b, a.astype(np.uint8)], axis=-1)
    return Image.fromarray(rgba, mode="RGBA")


def ensure_images(names: list[str], images_dir: Path = IMAGES_DIR) -> None:
    images_dir.mkdir(parents=True, exist_ok=True)
    src_dir = skimage_data_dir()
    for name in names:
        dst = images_dir / name
        if name == SYNTHETIC_IMAGE:
            make_synthetic_rgba().save(dst, format="PNG")
            continue
        src = src_dir / name
        if dst.exists():
            if not filecmp.cmp(src, dst, shallow=False):
                raise SystemExit(f"{dst} exists with bytes different from {src}")
            continue
        shutil.copyfile(src, dst)


def load_images(names: list[str], images_dir: Path = IMAGES_DIR) -> list[Image.Image]:
    out = []
    for n in names:
        im = Image.open(images_dir / n)
        im.load()
        out.append(im)
    return out


# ----------------------------------------------------------------------------- writing


def write_preprocessor_config(spec: Spec, image_size: int) -> None:
    path = spec.out_dir / "preprocessor_config.json"
    if spec.preprocessor_style == "new":
        proc = SlowImageProcessor(
            size={"shortest_edge": image_size},
            crop_size={"height": image_size, "width": image_size},
        )
        proc.save_pretrained(spec.out_dir)
        d = json.loads(path.read_text())
        # transformers 5 strips the "Pil" suffix itself; make sure regardless
        d["image_processor_type"] = "CLIPImageProcessor"
        path.write_text(json.dumps(d, indent=2, sort_keys=True) + "\n")
    elif spec.preprocessor_style == "old":
        # exactly the shape of openai/clip-vit-base-patch32's file (2021)
        d = {
            "crop_size": image_size,
            "do_center_crop": True,
            "do_normalize": True,
            "do_resize": True,
            "feature_extractor_type": "CLIPFeatureExtractor",
            "image_mean": OPENAI_MEAN,
            "image_std": OPENAI_STD,
            "resample": 3,
            "size": image_size,
        }
        path.write_text(json.dumps(d, indent=2, sort_keys=True) + "\n")
    else:
        raise ValueError(spec.preprocessor_style)


def place_tokenizer(spec: Spec, mode: str) -> None:
    dst = spec.out_dir / "tokenizer.json"
    if dst.is_symlink() or dst.exists():
        dst.unlink()
    if mode == "copy":
        shutil.copyfile(TOKENIZER_JSON, dst)
    elif mode == "symlink":
        rel = os.path.relpath(TOKENIZER_JSON, spec.out_dir)
        os.symlink(rel, dst)
    else:
        raise ValueError(mode)


def require_tokenizer() -> None:
    if not TOKENIZER_JSON.exists():
        raise SystemExit(f"{TOKENIZER_JSON} is missing: build the Hub tokenizer first")


def build_and_save(spec: Spec) -> None:
    """Random weights (seeded) -> config.json + model.safetensors + preprocessor_config.json."""
    spec.out_dir.mkdir(parents=True, exist_ok=True)
    for stale in ("model.safetensors", "config.json", "preprocessor_config.json"):
        p = spec.out_dir / stale
        if p.exists():
            p.unlink()
    cfg = CLIPConfig(**spec.config)
    torch.manual_seed(spec.seed)
    model = CLIPModel(cfg).eval()
    if spec.perturb is not None:
        perturb_weights(model, spec.seed + 1, spec.perturb)
    with torch.no_grad():
        # exactly ln(100) as in the released OpenAI models (rounded to the storage dtype)
        model.logit_scale.fill_(LN_100)
    model = model.to(spec.dtype)
    model.save_pretrained(spec.out_dir, safe_serialization=True)
    (spec.out_dir / "model.safetensors").chmod(0o644)
    write_preprocessor_config(spec, cfg.vision_config.image_size)


# ----------------------------------------------------------------------------- reference


def load_tokenizer(path: Path) -> CLIPTokenizer:
    tok = CLIPTokenizer(tokenizer_file=str(path))
    assert tok.pad_token_id == END_ID and tok.bos_token_id == START_ID and tok.eos_token_id == END_ID
    return tok


def tokenize(tok: CLIPTokenizer, texts: list[str]):
    """Unpadded ids (checked against the raw `tokenizers` path) and the padded batch."""
    from tokenizers import Tokenizer

    raw = Tokenizer.from_file(str(TOKENIZER_JSON))
    raw.no_truncation()
    raw.no_padding()
    unpadded = []
    for t in texts:
        ids = tok(t, truncation=True, max_length=CONTEXT)["input_ids"]
        r = raw.encode(t).ids
        assert r[0] == START_ID and r[-1] == END_ID, r
        if len(r) > CONTEXT:  # start, first 75 tokens, end
            r = r[: CONTEXT - 1] + [END_ID]
        assert ids == r, (t, ids, r)
        assert len(ids) <= CONTEXT
        unpadded.append(ids)
    batch = tok(texts, padding="longest", truncation=True, max_length=CONTEXT, return_tensors="pt")
    for i, ids in enumerate(unpadded):
        row = batch["input_ids"][i].tolist()
        mask = batch["attention_mask"][i].tolist()
        assert row[: len(ids)] == ids and all(v == END_ID for v in row[len(ids) :]), (row, ids)
        assert mask == [1] * len(ids) + [0] * (len(row) - len(ids))
    return unpadded, batch


def image_processor(out_dir: Path):
    proc = SlowImageProcessor.from_pretrained(out_dir)
    assert getattr(proc, "backend", "pil") == "pil", type(proc)
    return proc


def _pooled(out):
    # transformers 5: get_*_features return BaseModelOutputWithPooling; 4.x: a tensor
    return out if isinstance(out, torch.Tensor) else out.pooler_output


def _eager_attention_f64(module, query, key, value, attention_mask, scaling, dropout=0.0, **kwargs):
    """transformers' eager attention, except that the softmax runs in the input dtype.

    transformers' own "eager" attention computes the softmax in float32 even for a
    float64 model (`softmax(..., dtype=torch.float32)`), which caps the reference at
    ~1e-7 relative accuracy. This one is used only to cross-check the SDPA path."""
    w = torch.matmul(query, key.transpose(-1, -2)) * scaling
    if attention_mask is not None:
        w = w + attention_mask
    w = torch.nn.functional.softmax(w, dim=-1)
    return torch.matmul(w, value).transpose(1, 2).contiguous(), w


def _register_eager_f64() -> str:
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface, eager_mask

    AttentionInterface.register("eager_f64", _eager_attention_f64)
    AttentionMaskInterface.register("eager_f64", eager_mask)
    return "eager_f64"


def load_reference_model(out_dir: Path, attn_implementation: str = "sdpa") -> CLIPModel:
    """Weights exactly as stored (fp16 stays fp16 on load), then widened to float64.

    SDPA on CPU computes in the tensor dtype, so the whole forward pass is float64.
    (Not "eager": see _eager_attention_f64.)"""
    model = CLIPModel.from_pretrained(out_dir, dtype="auto", attn_implementation=attn_implementation)
    return model.double().eval()


def compute_reference(out_dir: Path, images: list[str], texts: list[str], images_dir: Path = IMAGES_DIR):
    cfg = CLIPConfig.from_pretrained(out_dir)
    model = load_reference_model(out_dir)
    tok = load_tokenizer(out_dir / "tokenizer.json")
    proc = image_processor(out_dir)
    S = cfg.vision_config.image_size

    pil_images = load_images(images, images_dir)
    pixel_values = proc(images=pil_images, return_tensors="np")["pixel_values"].astype(np.float32)
    assert pixel_values.shape == (len(images), 3, S, S), pixel_values.shape

    unpadded, batch = tokenize(tok, texts)
    eos_positions = [ids.index(END_ID) for ids in unpadded]
    input_ids = batch["input_ids"]
    attention_mask = batch["attention_mask"]

    pv = torch.from_numpy(pixel_values).double()
    with torch.no_grad():
        image_features = _pooled(model.get_image_features(pixel_values=pv))
        text_features = _pooled(model.get_text_features(input_ids=input_ids, attention_mask=attention_mask))
        vout = model.vision_model(pixel_values=pv)
        tout = model.text_model(input_ids=input_ids, attention_mask=attention_mask)
        full = model(input_ids=input_ids, pixel_values=pv, attention_mask=attention_mask)
        probs = full.logits_per_image.softmax(dim=-1)

        # --- assertions about what transformers does -------------------------------
        # pooling index: the first end-of-text, whichever rule the config selects
        argmax_rule = input_ids.to(torch.int).argmax(dim=-1).tolist()
        first_eos_rule = (input_ids == END_ID).int().argmax(dim=-1).tolist()
        assert eos_positions == argmax_rule == first_eos_rule, (eos_positions, argmax_rule, first_eos_rule)
        rows = torch.arange(len(texts))
        assert torch.equal(tout.pooler_output, tout.last_hidden_state[rows, torch.tensor(eos_positions)])
        # pooled vision output is post_layernorm(token 0)
        post_ln0 = model.vision_model.post_layernorm(vout.last_hidden_state[:, 0])
        assert torch.allclose(vout.pooler_output, post_ln0, rtol=1e-12, atol=1e-14)
        assert torch.allclose(model.visual_projection(vout.pooler_output), image_features, rtol=1e-12, atol=1e-14)
        assert torch.allclose(model.text_projection(tout.pooler_output), text_features, rtol=1e-12, atol=1e-14)
        # padding does not matter (causal mask): each text alone, cut at its own length
        for i, ids in enumerate(unpadded):
            alone = _pooled(model.get_text_features(input_ids=torch.tensor([ids])))
            assert torch.allclose(alone[0], text_features[i], rtol=1e-9, atol=1e-12), i
        # probs == softmax(exp(logit_scale) * cos)
        ni = image_features / image_features.norm(dim=-1, keepdim=True)
        nt = text_features / text_features.norm(dim=-1, keepdim=True)
        manual = (model.logit_scale.exp() * ni @ nt.T).softmax(dim=-1)
        assert torch.allclose(manual, probs, rtol=1e-10, atol=1e-14)

        # an independent float64 attention path gives the same numbers
        m2 = load_reference_model(out_dir, _register_eager_f64())
        out2 = m2(input_ids=input_ids, pixel_values=pv, attention_mask=attention_mask)
        for a, b in ((out2.image_embeds, full.image_embeds), (out2.text_embeds, full.text_embeds)):
            assert torch.allclose(a, b, rtol=1e-11, atol=1e-13), (a - b).abs().max()
        assert torch.allclose(out2.logits_per_image.softmax(dim=-1), probs, rtol=1e-10, atol=1e-13)

    # the reference ran on exactly the stored weights (fp16 -> f64 is exact)
    from safetensors import safe_open

    state = model.state_dict()
    with safe_open(str(out_dir / "model.safetensors"), "pt") as f:
        assert set(f.keys()) == set(state.keys()), set(f.keys()) ^ set(state.keys())
        for k in f.keys():
            assert torch.equal(f.get_tensor(k).double(), state[k]), k
        # the raw parameter, as stored on disk (so fp16-rounded for an fp16 model)
        logit_scale = float(f.get_tensor("logit_scale").double().item())
    assert logit_scale == float(model.logit_scale.item())

    cases = {
        "images": list(images),
        "texts": list(texts),
        "input_ids": unpadded,
        "logit_scale": logit_scale,
        "eos_positions": eos_positions,
    }
    arrays = {
        "pixel_values": pixel_values,
        "image_features": image_features.numpy().astype(np.float64),
        "text_features": text_features.numpy().astype(np.float64),
        "probs": probs.numpy().astype(np.float64),
        "vision_hidden": vout.pooler_output.numpy().astype(np.float64),
        "text_pooled": tout.pooler_output.numpy().astype(np.float64),
    }
    return cases, arrays


def write_expected(out_dir: Path, cases: dict, arrays: dict) -> None:
    exp = out_dir / "expected"
    if exp.exists():
        shutil.rmtree(exp)
    exp.mkdir()
    (exp / "cases.json").write_text(json.dumps(cases, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    for k, v in arrays.items():
        np.save(exp / f"{k}.npy", v)


def verify_expected(out_dir: Path, images_dir: Path = IMAGES_DIR) -> None:
    """Reload everything from disk, recompute, and compare with expected/ (must be identical)."""
    exp = out_dir / "expected"
    cases = json.loads((exp / "cases.json").read_text(encoding="utf-8"))
    new_cases, new_arrays = compute_reference(out_dir, cases["images"], cases["texts"], images_dir)
    assert new_cases == cases, "cases.json differs on recomputation"
    compare_expected(out_dir, new_arrays)


def compare_expected(out_dir: Path, new_arrays: dict) -> None:
    """Each recomputed array against out_dir/expected/<name>.npy: identical, or equal but
    for float64 rounding in the last bits (never pixel values)."""
    exp = out_dir / "expected"
    for k, v in new_arrays.items():
        old = np.load(exp / f"{k}.npy")
        assert old.dtype == v.dtype and old.shape == v.shape, (k, old.dtype, v.dtype, old.shape, v.shape)
        if not np.array_equal(old, v):
            diff = np.abs(old - v).max()
            # another CPU / BLAS may round float64 sums differently in the last bits
            if k != "pixel_values" and np.allclose(old, v, rtol=1e-10, atol=1e-13):
                print(f"  note: {out_dir.name}/{k}.npy differs in the last bits (max |diff| {diff:.3g})")
                continue
            raise AssertionError(f"{out_dir.name}/{k}.npy differs on recomputation (max |diff| {diff:.3g})")
    print(f"verified {out_dir}: recomputation matches expected/")


# ----------------------------------------------------------------------------- checks


def sensitivity_checks(out_dir: Path, cases: dict, arrays: dict) -> None:
    """Make sure the fixture can tell apart the things it is meant to test."""
    probs = arrays["probs"]
    n_txt = probs.shape[1]
    entropy = -(probs * np.log(np.maximum(probs, 1e-300))).sum(axis=1) / np.log(n_txt)
    print(f"  {out_dir.name}: normalised entropy of probs per image {np.round(entropy, 3).tolist()}")
    assert entropy.max() < 0.97, f"{out_dir.name}: probabilities are ~uniform"
    assert probs.max(axis=1).min() < 0.99, f"{out_dir.name}: probabilities are ~one-hot"
    # features vary across inputs
    for key in ("image_features", "text_features"):
        f = arrays[key]
        f = f / np.linalg.norm(f, axis=-1, keepdims=True)
        cos = f @ f.T
        off = cos[~np.eye(len(f), dtype=bool)]
        assert off.max() < 0.9999, f"{out_dir.name}: {key} nearly identical across inputs (max cos {off.max():.6f})"

    cfg = CLIPConfig.from_pretrained(out_dir)
    pv = torch.from_numpy(arrays["pixel_values"]).double()

    def outputs_with(tower, **overrides):
        c = CLIPConfig.from_pretrained(out_dir)
        for k, v in overrides.items():
            setattr(getattr(c, tower), k, v)
        m = CLIPModel.from_pretrained(out_dir, config=c, dtype="auto", attn_implementation="sdpa").double().eval()
        tok = load_tokenizer(out_dir / "tokenizer.json")
        _, batch = tokenize(tok, cases["texts"])
        with torch.no_grad():
            out = m(pixel_values=pv, **batch)
            if tower == "vision_config":
                feats = _pooled(m.get_image_features(pixel_values=pv))
            else:
                feats = _pooled(m.get_text_features(**batch))
        return feats.numpy(), out.logits_per_image.softmax(dim=-1).numpy()

    for tower, key in (("vision_config", "image_features"), ("text_config", "text_features")):
        tc = getattr(cfg, tower)
        ref = arrays[key]
        variants = [("hidden_act", "gelu" if tc.hidden_act == "quick_gelu" else "quick_gelu")]
        if tc.layer_norm_eps != 1e-5:
            variants.append(("layer_norm_eps", 1e-5))
        for k, v in variants:
            feats, p = outputs_with(tower, **{k: v})
            d_feat = np.abs(feats - ref).max() / np.abs(ref).max()
            d_prob = np.abs(p - probs).max()
            print(f"  {out_dir.name}: {tower}.{k}={v}: rel. change of {key} {d_feat:.1e}, max change of probs {d_prob:.1e}")
            assert d_feat > 1e-4 and d_prob > 1e-4, "the fixture can hardly tell this apart"


def describe(out_dir: Path, cases: dict, arrays: dict) -> None:
    print(f"== {out_dir}")
    for k, v in arrays.items():
        print(f"  {k:15s} {str(v.dtype):8s} {v.shape}")
    print(f"  logit_scale {cases['logit_scale']!r}  eos_positions {cases['eos_positions']}")
    np.set_printoptions(precision=4, suppress=True, linewidth=160)
    print(f"  probs[{cases['images'][0]}] = {arrays['probs'][0]}")


def dir_size(paths) -> int:
    total = 0
    for p in paths:
        for root, _, files in os.walk(p):
            for f in files:
                fp = Path(root) / f
                if not fp.is_symlink():
                    total += fp.stat().st_size
    return total


def generate(spec: Spec, tokenizer_mode: str, images_dir: Path = IMAGES_DIR, checks: bool = True):
    build_and_save(spec)
    place_tokenizer(spec, tokenizer_mode)
    cases, arrays = compute_reference(spec.out_dir, spec.images, spec.texts, images_dir)
    write_expected(spec.out_dir, cases, arrays)
    describe(spec.out_dir, cases, arrays)
    if checks:
        sensitivity_checks(spec.out_dir, cases, arrays)
    return cases, arrays


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--verify", action="store_true", help="recompute from the files on disk and compare; write nothing")
    args = ap.parse_args(argv)
    print(f"torch {torch.__version__}, transformers {transformers.__version__}, numpy {np.__version__}")
    specs = tiny_specs()

    if args.verify:
        for spec in specs:
            verify_expected(spec.out_dir)
        return 0

    require_tokenizer()
    ensure_images(SKIMAGE_IMAGES + [SYNTHETIC_IMAGE])
    # Generate with symlinks; then copy tokenizer.json into as many models (first
    # ones first) as the size budget allows, relative symlinks for the rest.
    tok_size = TOKENIZER_JSON.stat().st_size
    for spec in specs:  # symlinks while generating; decided below
        generate(spec, "symlink")
    base = dir_size([s.out_dir for s in specs])
    modes = []
    n_copies = 0
    for n in range(len(specs), -1, -1):
        if base + n * tok_size <= TINY_BUDGET_BYTES:
            n_copies = n
            break
    for i, spec in enumerate(specs):
        mode = "copy" if i < n_copies else "symlink"
        place_tokenizer(spec, mode)
        modes.append(mode)
    total = dir_size([s.out_dir for s in specs])
    print(f"tokenizer.json per model: {dict(zip([s.name for s in specs], modes))}; tiny-clip* total {total} bytes")
    assert total <= TINY_BUDGET_BYTES
    for spec in specs:
        verify_expected(spec.out_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
