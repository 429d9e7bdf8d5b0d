#!/usr/bin/env python3
"""Full-size random-weight SigLIP / SigLIP 2 checkpoints with reference outputs (not committed).

For measuring webclip's model file sizes per weight format and checking its features
against transformers at full size (`WEBCLIP_EXTRA_FIXTURE=DIR cargo test --release --test
model extra -- --ignored --nocapture`). Same layout and reference procedure as
tools/make_siglip_fixtures.py, whose code this reuses: config.json, model.safetensors
(float32), preprocessor_config.json, tokenizer.json + tokenizer_config.json (+ spiece.model),
expected/ (cases.json and the float64 .npy files of that script's docstring), images/ (a
copy of the four images named in expected/cases.json, from tests/fixtures/images/).

    tools/.venv/bin/python tools/make_random_siglip.py --variant siglip-base-patch16-224
    tools/.venv/bin/python tools/make_random_siglip.py --variant siglip2-base-patch16-224 [OUT_DIR]
    tools/.venv/bin/python tools/make_random_siglip.py --variant ... --verify   # recompute, compare

OUT_DIR defaults to /work/siglip-<variant>. Variants (shapes as the google/* checkpoints of
the same names; model_type "siglip", i.e. SiglipModel, as their config.json files say):

- siglip-base-patch16-224: SiglipConfig() defaults (vision 768 wide, 12 layers, 12 heads,
  MLP 3072, 224 px in 16 px patches; text the same widths, vocabulary 32000, 64 positions),
  bicubic resize (resample 3) to 224x224. 203 M weights.
- siglip2-base-patch16-224: the same with Gemma's vocabulary size, 256000; bilinear
  (resample 2) to 224x224. 375 M weights (197 M of them the token embedding).
- siglip2-base-patch32-256: vocabulary 256000, 256 px in 32 px patches (64 tokens);
  bilinear to 256x256.

Tokenizers: stand-ins. The tokenizer files are copies of the committed fixtures'
(tests/fixtures/tiny-siglip for SigLIP 1: 614 Unigram pieces; tiny-siglip2 for SigLIP 2: a
Gemma-style byte-fallback BPE of 800 pieces), whose ids all lie below 32000: the checkpoint's
embedding rows beyond them are never used. The real ones are far bigger (SigLIP 2's Gemma
tokenizer.json is ~34 MB; SigLIP 1 ships only spiece.model, ~2 MB as tokenizer.json), which
matters for file sizes, not for the comparison. Token ids: as in the fixtures (SigLIP 1 pad =
eos = 1, no bos; SigLIP 2 pad 0, eos 1, bos 2), so config.json says so too (SiglipConfig()'s
own defaults, bos 49406 / eos 49407, are CLIP's and lie outside the vocabulary).

Texts: the fixtures' (make_fixtures.TINY_TEXTS, make_siglip_fixtures.EXTRA_TEXTS and the text
that fills all 64 positions, the same with the same tokenizer). The ids are made exactly as
make_siglip_fixtures.tokenize makes them, on the fixture directory whose tokenizer this is
(that function also asserts that the tokenizer's size is the config's vocab_size, which the
stand-in is not): the tokenizer files are asserted identical, and the ids below vocab_size.

Random weights: transformers' init with a seed, then the fixtures' perturbation
(make_fixtures.perturb_weights with make_siglip_fixtures.PERTURB: random biases and LayerNorm
parameters, stronger MLP and residual branches; make_siglip_fixtures.perturb_siglip: random
MAP-head probe and in_proj bias, sharper q/k, patch-embedding bias) but WITHOUT its
GELU_WINDOW: that moves a quarter of every MLP unit to where tanh and erf GELU differ most
and amplifies them 8x, to make a 2-layer model tell the two apart; it also makes the model
sensitive to weight rounding (tiny-siglip's all-q4 cosine was 0.77; 0.92 with q4's mixed
precision), which a full-size measurement of the reduced formats should not inherit. Logit scale and bias are chosen from the cosines
as for the fixtures (make_siglip_fixtures.choose_logit_scale_bias, on a float32 pass).

Reference: make_siglip_fixtures.compute_reference unchanged, i.e. transformers in float64
(SDPA), cross-checked against float64 eager attention and that script's re-implementation of
both towers. Memory: the float64 model is 1.6 GB (SigLIP 1) or 3 GB (SigLIP 2), twice while
the cross-check runs; ~10 GB peak for the 256k-vocabulary variants. The fixtures'
sensitivity checks are not run (their thresholds are the tiny models').
"""

from __future__ import annotations

import argparse
import filecmp
import gc
import json
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import make_siglip_fixtures as msf  # noqa: E402  (first: it sets the tokenizers' thread variables)
import make_fixtures as mf  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from transformers import SiglipConfig, SiglipModel  # noqa: E402

IMAGES = list(msf.ALL_IMAGES)  # chelsea.png, rocket.jpg, astronaut.png, rgba_transparency.png
TEXTS = list(mf.TINY_TEXTS) + msf.EXTRA_TEXTS  # + the exact-fit text, found per tokenizer

# the stand-in tokenizers: the committed fixtures' files
STAND_INS = {
    "siglip": (msf.FIXTURES / "tiny-siglip", ["tokenizer.json", "tokenizer_config.json", "spiece.model"]),
    "gemma": (msf.FIXTURES / "tiny-siglip2", ["tokenizer.json", "tokenizer_config.json"]),
}
TOKEN_IDS = {
    "siglip": dict(pad_token_id=1, eos_token_id=1, bos_token_id=None),
    "gemma": dict(pad_token_id=0, eos_token_id=1, bos_token_id=2),
}
NO_GELU_WINDOW = dict(msf.GELU_WINDOW, fraction=0.0)

VARIANTS = {
    "siglip-base-patch16-224": dict(seed=16224, tokenizer="siglip", resample=3, vocab_size=32000, vision={}),
    "siglip2-base-patch16-224": dict(seed=216224, tokenizer="gemma", resample=2, vocab_size=256000, vision={}),
    "siglip2-base-patch32-256": dict(
        seed=232256, tokenizer="gemma", resample=2, vocab_size=256000, vision=dict(image_size=256, patch_size=32)
    ),
}


def spec(variant: str, out_dir: Path) -> msf.Spec:
    v = VARIANTS[variant]
    return msf.Spec(
        name=variant,
        out_dir=out_dir,
        seed=v["seed"],
        tokenizer=v["tokenizer"],
        resample=v["resample"],
        vision=dict(v["vision"]),  # the rest: SiglipVisionConfig() defaults
        text=dict(vocab_size=v["vocab_size"], **TOKEN_IDS[v["tokenizer"]]),  # the rest: defaults
        images=list(IMAGES),
        texts=list(TEXTS),
    )


# ----------------------------------------------------------------------------- tokenising

_fixture_tokenize = msf.tokenize


def stand_in(out_dir: Path) -> tuple[Path, list[str]]:
    return STAND_INS["siglip" if msf.is_siglip1_tokenizer(out_dir) else "gemma"]


def tokenize(out_dir: Path, texts: list[str]):
    """make_siglip_fixtures.tokenize on the fixture the tokenizer was copied from (same
    files, so the same ids and info), checked against this directory's config."""
    src, files = stand_in(out_dir)
    for f in files:
        assert filecmp.cmp(src / f, out_dir / f, shallow=False), f"{out_dir / f} is not a copy of {src / f}"
    ids, info = _fixture_tokenize(src, texts)
    cfg = SiglipConfig.from_pretrained(out_dir).text_config
    assert (info["pad_token_id"], info["eos_token_id"]) == (cfg.pad_token_id, cfg.eos_token_id)
    assert int(ids.max()) < cfg.vocab_size and ids.shape[1] == cfg.max_position_embeddings == msf.CONTEXT
    return ids, info


# compute_reference and verify_expected look tokenize up in their module
msf.tokenize = tokenize


# ----------------------------------------------------------------------------- build


def build_and_save(sp: msf.Spec) -> list[str]:
    if sp.out_dir.exists():
        shutil.rmtree(sp.out_dir)
    sp.out_dir.mkdir(parents=True)
    src, files = STAND_INS[sp.tokenizer]
    for f in files:
        shutil.copyfile(src / f, sp.out_dir / f)

    cfg = SiglipConfig(text_config=dict(sp.text), vision_config=dict(sp.vision))
    assert cfg.text_config.projection_size == cfg.vision_config.hidden_size
    cfg.save_pretrained(sp.out_dir)
    msf.write_preprocessor_config(sp, cfg.vision_config.image_size)

    texts = sp.texts + [msf.exact_fit_text(sp.out_dir)]
    fixture_texts = json.loads((src / "expected" / "cases.json").read_text(encoding="utf-8"))["texts"]
    assert texts == fixture_texts, "texts differ from the fixture's"

    t0 = time.time()
    torch.manual_seed(sp.seed)
    model = SiglipModel(cfg).eval()
    mf.perturb_weights(model, sp.seed + 1, msf.PERTURB)
    msf.perturb_siglip(model, sp.seed + 2, NO_GELU_WINDOW)
    n = sum(p.numel() for p in model.parameters())
    print(f"  {sp.name}: {n / 1e6:.1f} M weights, initialised in {time.time() - t0:.0f} s")

    # logit scale and bias from this model's cosines (float32 pass: they are rounded anyway)
    pv = torch.from_numpy(msf.pixel_values(sp.out_dir, sp.images))
    input_ids, _ = tokenize(sp.out_dir, texts)
    with torch.no_grad():
        img = torch.nn.functional.normalize(mf._pooled(model.get_image_features(pixel_values=pv)), dim=-1)
        txt = torch.nn.functional.normalize(mf._pooled(model.get_text_features(input_ids=input_ids)), dim=-1)
        cos = (img @ txt.T).double().numpy()
        scale, bias = msf.choose_logit_scale_bias(cos)
        model.logit_scale.fill_(scale)
        model.logit_bias.fill_(bias)
    print(f"  {sp.name}: cosines in [{cos.min():.4f}, {cos.max():.4f}]; logit_scale {scale}, logit_bias {bias}")
    model.save_pretrained(sp.out_dir, safe_serialization=True)
    assert not (sp.out_dir / "model.safetensors.index.json").exists(), "sharded: expected one file"
    (sp.out_dir / "model.safetensors").chmod(0o644)
    del model
    gc.collect()

    (sp.out_dir / "images").mkdir(exist_ok=True)
    for name in sp.images:
        shutil.copyfile(msf.IMAGES_DIR / name, sp.out_dir / "images" / name)
    return texts


def generate(sp: msf.Spec, verify: bool) -> None:
    texts = build_and_save(sp)
    t0 = time.time()
    cases, arrays = msf.compute_reference(sp.out_dir, sp.images, texts)
    print(f"  {sp.name}: float64 reference in {time.time() - t0:.0f} s")
    msf.write_expected(sp.out_dir, cases, arrays)
    msf.describe(sp.out_dir, cases, arrays)
    probs = arrays["probs"]
    inside = float(((probs > 0.02) & (probs < 0.98)).mean())
    print(f"  {sp.name}: probs in (0.02, 0.98): {inside:.0%}, range [{probs.min():.4f}, {probs.max():.4f}]")
    for key in ("image_features", "text_features"):
        f = arrays[key] / np.linalg.norm(arrays[key], axis=-1, keepdims=True)
        c = f @ f.T
        print(f"  {sp.name}: {key}: largest cosine between two rows {c[~np.eye(len(c), dtype=bool)].max():.4f}")
    print(f"  {sp.name}: {msf.dir_size(sp.out_dir)} bytes in {sp.out_dir}")
    if verify:
        msf.verify_expected(sp.out_dir)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--variant", required=True, choices=sorted(VARIANTS))
    ap.add_argument("out_dir", nargs="?", help="default /work/siglip-<variant>")
    ap.add_argument("--verify", action="store_true", help="recompute from the files on disk and compare; write nothing")
    ap.add_argument("--no-verify", action="store_true", help="do not recompute after writing (saves the time of a second reference)")
    args = ap.parse_args(argv)
    out_dir = Path(args.out_dir or f"/work/siglip-{args.variant}").resolve()
    sp = spec(args.variant, out_dir)
    print(f"torch {torch.__version__}, transformers {msf.transformers.__version__}, numpy {np.__version__}")
    if args.verify:
        msf.verify_expected(out_dir)
        return 0
    missing = [n for n in IMAGES if not (msf.IMAGES_DIR / n).exists()]
    if missing:
        mf.ensure_images(missing)
    generate(sp, verify=not args.no_verify)
    return 0


if __name__ == "__main__":
    sys.exit(main())
