#!/usr/bin/env python3
r"""Write the random-weight SigLIP test fixtures and their float64 reference outputs.

Developer-machine only (never run in CI), with the versions pinned in
tools/requirements.txt (the random weights depend on the torch/transformers versions; the
tokenizers are trained here, deterministically). Regenerating writes byte-identical files.

    python3 tools/make_siglip_fixtures.py            # (re)write tests/fixtures/tiny-siglip{,2}
    python3 tools/make_siglip_fixtures.py --verify   # recompute everything from the files on
                                                     # disk and compare, write nothing

SigLIP 1's tokenizer needs SentencePiece's nmt_nfkc table (the "precompiled charsmap"),
which only the sentencepiece package can build. It is read from a spiece.model already in
the tree: tests/fixtures/tokenizer-siglip/ (tools/make_tokenizer_fixtures_siglip.py) or this
script's own previous tiny-siglip/spiece.model; failing both, sentencepiece is used if it
can be imported. The table's sha256 is checked (NMT_NFKC_SHA256).

Layout (Hugging Face Hub layout plus `expected/`), per model directory:

    config.json                SiglipModel.save_pretrained (model_type "siglip", float32)
    model.safetensors
    preprocessor_config.json   as SiglipImageProcessor(Pil) saves it: size {height, width},
                               no crop, mean = std = 0.5, rescale 1/255, `resample`
    tokenizer.json             trained here (see "Tokenizers" below)
    tokenizer_config.json      as on the Hub: SiglipTokenizer / GemmaTokenizer settings
    spiece.model               tiny-siglip only: the same vocabulary as a SentencePiece model
    expected/cases.json
    expected/*.npy

Models (both `model_type: "siglip"`, i.e. `SiglipModel`; SigLIP 2 FixRes checkpoints such
as google/siglip2-base-patch16-224 are published with this same architecture):

- `tiny-siglip` (SigLIP 1 style): vision 32 wide, 4 heads, MLP 52 (odd on purpose), 2
  layers, 48x48 images in 8x8 patches (36 tokens); text 40 wide, 4 heads, MLP 68, 2 layers,
  64 positions, head 40 -> 32 (`projection_size` = vision width). gelu_pytorch_tanh,
  layer_norm_eps 1e-6 (SigLIP's defaults). Bicubic resize (resample 3, as in
  google/siglip-base-patch16-224). T5-style SentencePiece Unigram tokenizer; pad = eos =
  </s> = 1, no bos.
- `tiny-siglip2` (SigLIP 2 FixRes style): vision 36 wide, 3 heads, MLP 60, 2 layers, 40x40
  images in 8x8 patches (25 tokens); text 36 wide, 2 heads, MLP 44, 2 layers, 64 positions,
  head 36 -> 36. Bilinear resize (resample 2; to my knowledge what the
  google/siglip2-*-patch16-224 preprocessor_config.json files say, which I could not
  re-check offline; bilinear is used either way, to test the second filter).
  Gemma-style byte-fallback BPE tokenizer; <pad> = 0, <eos> = 1, <bos> = 2 (unused).

expected/cases.json:
    images            file names in tests/fixtures/images/
    texts             make_fixtures.TINY_TEXTS plus three: non-ASCII case and punctuation,
                      "!!!" (nothing left after SigLIP 1's canonicalisation), and a text
                      that fills exactly 64 positions with its eos, starting with words the
                      tokenizers never saw (subword pieces)
    input_ids         per text, exactly what transformers' zero-shot-image-classification
                      pipeline feeds a "siglip" model: tokenizer(texts, padding="max_length",
                      max_length=64, truncation=True); 64 ids each, no attention mask (the
                      tokenizer's model_input_names is ["input_ids"], as on the Hub). The
                      pipeline's hypothesis_template is not applied (as if it were "{}").
    logit_scale       the raw parameter as stored (logits use exp(logit_scale))
    logit_bias        the raw parameter as stored
    pad_token_id, eos_token_id
    eos_positions     per text, the index of the first eos id (SigLIP 1 pads with eos)
    n_tokens          per text, the number of ids before padding (eos included)
    truncated         per text, whether truncation to 64 cut it
    context_length    64
    image_size, resample
    tokenizer         how the ids were made (see "Tokenizers")
expected/*.npy:
    pixel_values      float32 [n_img, 3, S, S], SiglipImageProcessorPil (Pillow backend; the
                      torchvision SiglipImageProcessor is not used) on the committed images
    image_features    float64 [n_img, D]: get_image_features = the vision tower's pooler
                      output, i.e. the MAP (attention-pooling) head; there is no projection
    text_features     float64 [n_txt, D]: get_text_features = text `head` applied to
                      final_layer_norm at the LAST position (index 63, usually padding)
    cosines           float64 [n_img, n_txt], cosine similarity
    logits            float64 [n_img, n_txt] = exp(logit_scale) * cosines + logit_bias
                      (= logits_per_image)
    probs             float64 [n_img, n_txt] = sigmoid(logits) (what the pipeline reports)
    vision_last_hidden float64 [n_img, P, D]: post_layernorm output, the MAP head's input
    text_pooled       float64 [n_txt, Dt]: final_layer_norm at position 63, before `head`

The reference is transformers in float64, as in make_fixtures.py: SiglipModel.from_pretrained
(dtype="auto") loads the float32 weights as stored, .double() widens them exactly, attention
is SDPA (float64 on CPU), cross-checked against an eager attention that keeps float64
(make_fixtures._register_eager_f64; transformers' own "eager" softmax runs in float32) and
against an independent re-implementation of both towers in this file (manual_*), which the
sensitivity checks then vary. The MAP head is torch.nn.MultiheadAttention, float64 too.

Tokenizers
----------
SigLIP 1 (google/siglip-base-patch16-224 and the other google/siglip-* repos): as far as I
know the Hub repos ship `spiece.model` (T5's English SentencePiece Unigram vocabulary, 32000
pieces: <pad>=0, </s>=1, <unk>=2, "▁"=3) and no tokenizer.json, and transformers (4.x and
this 5.24) has no fast SigLIP tokenizer: the SiglipTokenizerFast / SiglipConverter of
transformers PR #29969 (which put lowercasing and punctuation removal into the normalizer)
was never merged. The zero-shot pipeline runs the slow `SiglipTokenizer` (sentencepiece):
  1. tokenize(): "▁" -> " ", split off added tokens, then canonicalize_text() on each part:
     lower(); delete every character of Python's string.punctuation (ASCII only: "—", "“",
     "…" survive); re.sub(r"\s+", " "); strip();
  2. SentencePiece: nmt_nfkc normalisation (precompiled charsmap; e.g. "…" -> "...", which
     then stays, as punctuation was removed before), extra whitespace removed, dummy "▁"
     prefix, Unigram Viterbi, no byte fallback (unknown characters -> <unk>);
  3. appends </s> (1) and pads with pad_token "</s>" (1 again; transformers' integration
     test pads 'the real mountain view' as [260, 638, 3293, 870, 1, 1, ...]); "" and
     "!!!" give [1]; truncation keeps 63 ids, then </s>.
No tokenizer.json can express step 1 in transformers' converter layout, so a port has to
do it in code. The fixture's tokenizer.json is what transformers' SentencePiece converters
(T5Converter / SpmConverter, and the T5-family files on the Hub) make of spiece.model, the
same layout as tests/fixtures/tokenizer-siglip/tokenizer.json:
  "normalizer": {"type": "Sequence", "normalizers": [
      {"type": "Precompiled", "precompiled_charsmap": "<nmt_nfkc, base64>"},
      {"type": "Replace", "pattern": {"Regex": " {2,}"}, "content": " "}]},
  "pre_tokenizer": {"type": "Metaspace", "replacement": "▁", "prepend_scheme": "always", "split": true},
  "post_processor": {"type": "TemplateProcessing",
      "single": [{"Sequence": {"id": "A", "type_id": 0}}, {"SpecialToken": {"id": "</s>", "type_id": 0}}],
      "pair": [$A, </s>, $B, </s>], "special_tokens": {"</s>": {"id": "</s>", "ids": [1], "tokens": ["</s>"]}}},
  "decoder": {"type": "Metaspace", "replacement": "▁", "prepend_scheme": "always", "split": true},
  "model": {"type": "Unigram", "unk_id": 2, "byte_fallback": false,
            "vocab": [["<pad>", 0.0], ["</s>", 0.0], ["<unk>", 0.0], ...]}
and spiece.model holds the same pieces and scores with the nmt_nfkc normaliser spec, next to
a tokenizer_config.json like the Hub's (SiglipTokenizer, pad </s>, do_lower_case,
model_input_names ["input_ids"]). The reference ids are canonicalize_text() (this file's copy
of transformers' code) followed by transformers' TokenizersBackend (= PreTrainedTokenizerFast
in transformers 5) on tokenizer.json, with the pipeline's padding/truncation. With the pinned
packages that is the only way (transformers cannot load SiglipTokenizer without the
sentencepiece package); whenever sentencepiece can be imported, tokenize() also runs
AutoTokenizer.from_pretrained(model_dir) -> the slow SiglipTokenizer on spiece.model, the
pipeline's own path, and asserts the same ids (done for the committed files with
sentencepiece 0.2.3: identical). A text containing "</s>" is the one case left out: the slow
tokenizer does not add a second one.

SigLIP 2 (google/siglip2-*): the Hub repos ship Gemma's tokenizer.json (256000 pieces, 34 MB)
as GemmaTokenizerFast("google/gemma-7b", add_bos_token=False, add_eos_token=True,
padding_side="right", model_input_names=["input_ids"]) saved it (convert_siglip2_to_hf.py),
and tokenizer_config.json says "GemmaTokenizer". For a FixRes checkpoint (model_type "siglip")
transformers 5 AutoTokenizer loads that GemmaTokenizer class, which keeps vocab, merges and
post-processor from tokenizer.json but rebuilds the rest; this is what it saves:
  "normalizer": {"type": "Replace", "pattern": {"String": " "}, "content": "▁"},
  "pre_tokenizer": {"type": "Split", "pattern": {"String": " "}, "behavior": "MergedWithPrevious", "invert": false},
        (a no-op, since it runs after the normalizer replaced every space: BPE sees the whole
        text; tests/fixtures/tokenizer-siglip2 has "pre_tokenizer": null, which is equivalent)
  "post_processor": {"type": "TemplateProcessing",
      "single": [{"Sequence": {"id": "A", "type_id": 0}}, {"SpecialToken": {"id": "<eos>", "type_id": 0}}],
      "pair": [$A, <eos>, $B:1, <eos>:1], "special_tokens": {"<eos>": {"ids": [1]}}},
  "decoder": {"type": "Sequence", "decoders": [{"type": "Replace", "pattern": {"String": "▁"}, "content": " "},
                                               {"type": "ByteFallback"}, {"type": "Fuse"}]},
  "model": {"type": "BPE", "fuse_unk": true, "byte_fallback": true, "unk_token": "<unk>", ...}
No dummy prefix (the first word has no "▁"), no lowercasing, no <bos>, <eos> (1) appended,
<pad> (0) padding on the right (so the text tower pools a <pad> position), truncation keeps
63 ids then <eos>. Only model_type "siglip2" (the NaFlex checkpoints) maps to transformers 5's
Siglip2Tokenizer, which adds a Lowercase normalizer (SigLIP 2 was trained on lowercased
text); Siglip2Processor and the pipeline themselves do not lowercase. The fixture mirrors the
FixRes case: tokenizer.json and tokenizer_config.json are written by transformers'
GemmaTokenizer with those settings (vocabulary <pad>=0, <eos>=1, <bos>=2, <unk>=3, <mask>=4,
the 256 byte pieces <0x00>..<0xFF>, then the trained pieces), the reference ids come from
AutoTokenizer.from_pretrained(model_dir) (-> GemmaTokenizer) and are checked against the raw
`tokenizers` library and a plain-Python whole-text BPE with byte fallback (python_bpe_ids).

Training (deterministic): the corpus is generated here (sentences from word lists with a
fixed random.Random seed, plus the long text's words; not the fixture's texts, so that 🤖 🐱
猫 机器人 stay unknown: <unk> in SigLIP 1, bytes in SigLIP 2). The Gemma-style BPE is
`tokenizers`' BpeTrainer on words split SentencePiece-style ("▁" starts a word, single
digits). tokenizers' UnigramTrainer is not deterministic from run to run (and gave a poor
vocabulary on this small corpus), so the SigLIP 1 Unigram vocabulary is trained as: BpeTrainer
proposes the candidate pieces, then a few rounds of Viterbi EM with `tokenizers`' Unigram
model set the log-probabilities (unused candidates stay, at the smoothing floor; a tiny
rank term keeps every score distinct, so that no two segmentations tie).

Random weights: transformers' init (seeded), then make_fixtures.perturb_weights (random
biases and LayerNorm parameters, stronger MLP and residual branches; PERTURB) and
perturb_siglip (random MAP-head probe and in_proj bias, sharper q/k, patch-embedding bias,
and GELU_WINDOW: a quarter of each MLP's hidden units sit where tanh and erf GELU differ
most), so that what a port might get wrong shows. The logit scale and bias are chosen from
the cosines so that the sigmoid probabilities are spread (most within (0.02, 0.98)).
sensitivity_checks() asserts that each of these changes the features by more than 1e-4 of
their largest magnitude (and the probabilities by more than 1e-4): a causal text mask, erf
GELU instead of tanh GELU (each tower), text pooled at the first eos instead of the last
position, a padding mask on the text, vision pooled by the mean or token 0 of post_layernorm
instead of the MAP head, uniform attention in the MAP head. It also prints, without asserting,
the effect of layer_norm_eps 1e-5 (CLIP's) and of the other resampling filter.
"""

from __future__ import annotations

import os

# tokenizers' trainers: one thread, so that a retrain gives the same files
os.environ.setdefault("RAYON_NUM_THREADS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import argparse  # noqa: E402
import dataclasses  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import random  # noqa: E402
import re  # noqa: E402
import shutil  # noqa: E402
import string  # noqa: E402
import sys  # noqa: E402
from collections import Counter  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))

import make_fixtures as mf  # noqa: E402
import transformers  # noqa: E402
from tokenizers import AddedToken, Regex, Tokenizer, decoders, normalizers  # noqa: E402
from tokenizers import pre_tokenizers, processors, trainers  # noqa: E402
from tokenizers.models import BPE, Unigram  # noqa: E402
from transformers import AutoTokenizer, GemmaTokenizer, SiglipConfig, SiglipModel  # noqa: E402
from transformers.tokenization_utils_tokenizers import TokenizersBackend  # noqa: E402

try:  # transformers >= 5: the Pillow backend has its own class
    from transformers import SiglipImageProcessorPil as PilImageProcessor
except ImportError:  # transformers 4.x: SiglipImageProcessor is the Pillow one
    from transformers import SiglipImageProcessor as PilImageProcessor

FIXTURES = mf.FIXTURES
IMAGES_DIR = mf.IMAGES_DIR
ALL_IMAGES = mf.SKIMAGE_IMAGES + [mf.SYNTHETIC_IMAGE]
CONTEXT = 64
BUDGET_BYTES = 2 * 1024 * 1024  # per model directory
SPIECE_UNDERLINE = "▁"


# ----------------------------------------------------------------------------- texts + corpus

EXTRA_TEXTS = [
    # non-ASCII case and punctuation: lowercased, but “ ” — … are not in string.punctuation,
    # and … only becomes "..." after the punctuation step (SigLIP 1: nmt_nfkc)
    "Ünïcödé ÇAFÉ — “quoted” (text)…",
    # only punctuation: SigLIP 1 canonicalises it to nothing
    "!!!",
]

SUBJECTS = [
    "a cat", "the cat", "a small robot", "the robot", "a dog", "two dogs", "an astronaut", "a rocket",
    "the rocket", "a photo", "a person", "an old boot", "a green plant", "the ship", "a lighthouse",
    "children", "a grey sky", "the harbour", "a kitten", "a space shuttle", "wall-e", "eve", "a bird",
    "the teacher", "my friend", "a yellow taxi", "the old man", "a young woman", "a horse", "the river",
    "a mountain", "a train", "the bicycle", "a fisherman", "the baker", "a painter", "an elephant",
]
VERBS = [
    "sits on", "looks at", "flies over", "stands near", "collects", "waits for", "dreams of", "carries",
    "jumps over", "is next to", "walks past", "launches from", "sleeps under", "plays with", "paints",
    "holds", "follows", "climbs", "crosses", "watches", "reads about", "talks to", "runs along",
]
OBJECTS = [
    "a red chair", "the moon", "a launch pad", "rusty cans", "the morning tide", "a wooden table",
    "a blue sofa", "the city", "a field of flowers", "the quiet street", "a glass of water",
    "the lazy dog", "a cardboard box", "the night sky", "a pile of books", "a sunny window",
    "the bridge", "a large building", "the garden", "a white fence", "the kitchen", "a busy market",
    "the station", "a frozen lake", "the forest", "an orange umbrella", "the beach", "a tall tree",
]
EXTRAS = [
    "", "", "", " in the rain", " at night", " on a sunny day", " in a photo", " near the sea",
    ", drawn in pencil", " (black and white)", " with a hat", " and smiles", " during winter",
    " after school", " before breakfast", " in 1984", " for 20 minutes",
]
STYLES = [
    "a photo of {}.", "a picture of {}", "This is a photo of {}.", "{}", "an image of {}!",
    "A close-up photo of {}", "a blurry photo of {}", "a drawing of {}", "a painting of {}",
    "\"{}\"", "a bright photo of {}", "a dark photo of {}",
]
CORPUS_EXTRA = [
    "café naïve zürich façade résumé crème brûlée", "ロボット が 好き", "the year 2024 and 1234 robots",
    "rocket launch at 5:30 pm", "A Photo Of A Cat", "WALL-E and EVE", "a photo of an endoftext dog",
    "amp and more", "it's a cat's toy", "\"quoted\" words", "e-mail: robot@example.com",
    "Unicode text: «quotes» and — dashes", "what is this? a test!",
]


# words no training sentence contains: the exact-fit text starts with them
UNSEEN_WORDS = ["photographers", "robotic", "catwalks", "skyscraper"]


def corpus(n_sentences: int = 4000, seed: int = 0) -> list[str]:
    """Deterministic English-ish training text."""
    rng = random.Random(seed)
    out = []
    for _ in range(n_sentences):
        s = f"{rng.choice(SUBJECTS)} {rng.choice(VERBS)} {rng.choice(OBJECTS)}{rng.choice(EXTRAS)}"
        out.append(rng.choice(STYLES).format(s))
    # the long text's words (not the fixture's texts themselves: their odd parts, and the
    # exact-fit text's first words, are left to subword pieces; 🤖 🐱 猫 机器人 stay unknown)
    out.append(mf.long_text(120))
    out += CORPUS_EXTRA * 5
    assert not any(w in " ".join(out) for w in UNSEEN_WORDS)
    return out


# ----------------------------------------------------------------------------- tokenizers

SIGLIP_SPECIALS = ["<pad>", "</s>", "<unk>"]  # T5 / SigLIP ids 0, 1, 2
GEMMA_SPECIALS = ["<pad>", "<eos>", "<bos>", "<unk>", "<mask>"]  # Gemma ids 0..4

# SentencePiece's built-in "nmt_nfkc" normalisation table (the precompiled charsmap in every
# T5/SigLIP spiece.model and in the Precompiled normalizer of their tokenizer.json files).
CHARSMAP_SOURCES = [FIXTURES / "tokenizer-siglip" / "spiece.model", FIXTURES / "tiny-siglip" / "spiece.model"]
NMT_NFKC_SHA256 = "1e2c7b43d3ee9755ceaa2ac335e253d8703604e0249ee1e81156c92b46423844"
SIGLIP_TOKENIZER_DESCRIPTION = (
    "transformers SiglipTokenizer semantics: canonicalize_text (lower, strip string.punctuation, "
    "collapse whitespace, strip), then tokenizer.json through transformers TokenizersBackend, "
    "padding=max_length, max_length=64, truncation=True"
)


def canonicalize_text(text: str) -> str:
    """What transformers' SiglipTokenizer does to a text before SentencePiece sees it
    (tokenize(): "▁" -> " "; canonicalize_text() with do_lower_case=True). Not part of any
    tokenizer.json: a port has to do it in code."""
    text = text.replace(SPIECE_UNDERLINE, " ")
    text = text.lower()
    text = text.translate(str.maketrans("", "", string.punctuation))
    text = re.sub(r"\s+", " ", text)
    return text.strip()


def _sentencepiece():
    try:
        import sentencepiece

        return sentencepiece
    except ImportError:
        return None


def spm_normalizer_template():
    """A ModelProto whose normalizer_spec is SentencePiece's nmt_nfkc (with its charsmap).

    Without the sentencepiece package the charsmap cannot be built, so it is taken from a
    spiece.model already in the tree (tools/make_tokenizer_fixtures_siglip.py's, or this
    script's previous output); with sentencepiece, from a throwaway model trained here."""
    from transformers.convert_slow_tokenizer import import_protobuf

    pb = import_protobuf()
    for path in CHARSMAP_SOURCES:
        if path.exists():
            proto = pb.ModelProto()
            proto.ParseFromString(path.read_bytes())
            break
    else:
        spm = _sentencepiece()
        if spm is None:
            raise SystemExit(
                "need SentencePiece's nmt_nfkc charsmap: run tools/make_tokenizer_fixtures_siglip.py "
                "first, or install sentencepiece"
            )
        import io

        model = io.BytesIO()
        spm.SentencePieceTrainer.train(
            sentence_iterator=iter(corpus()), model_writer=model, model_type="unigram", vocab_size=100,
            normalization_rule_name="nmt_nfkc", num_threads=1, minloglevel=2,
        )
        proto = pb.ModelProto()
        proto.ParseFromString(model.getvalue())
    ns = proto.normalizer_spec
    assert ns.name == "nmt_nfkc" and ns.add_dummy_prefix and ns.remove_extra_whitespaces and ns.escape_whitespaces
    import hashlib

    assert hashlib.sha256(ns.precompiled_charsmap).hexdigest() == NMT_NFKC_SHA256, "unexpected charsmap"
    return proto


def siglip_normalizer(charsmap: bytes):
    """As transformers' SentencePiece converters (and the T5-family Hub files) write it."""
    return normalizers.Sequence([normalizers.Precompiled(charsmap), normalizers.Replace(Regex(" {2,}"), " ")])


def siglip_pre_tokenizer():
    return pre_tokenizers.Metaspace(replacement=SPIECE_UNDERLINE, prepend_scheme="always", split=True)


def train_siglip_vocab(charsmap: bytes, seed_vocab: int = 800, em_rounds: int = 6) -> list[tuple[str, float]]:
    """T5/SigLIP-style Unigram pieces and scores, trained deterministically (module doc)."""
    norm, pre = siglip_normalizer(charsmap), siglip_pre_tokenizer()
    texts = [canonicalize_text(s) for s in corpus()]
    # 1. candidate pieces from BpeTrainer, on the same normalised, pre-tokenised words
    seed = Tokenizer(BPE())
    seed.normalizer, seed.pre_tokenizer = norm, pre
    seed.train_from_iterator(texts, trainers.BpeTrainer(vocab_size=seed_vocab, show_progress=False))
    pieces = [p for p, _ in sorted(seed.get_vocab().items(), key=lambda kv: kv[1])]
    # word counts
    words: Counter = Counter()
    for s in texts:
        for w, _ in pre.pre_tokenize_str(norm.normalize_str(s)):
            words[w] += 1
    word_list = sorted(words)
    freqs = [words[w] for w in word_list]
    # 2. Viterbi EM with tokenizers' own Unigram model
    scores = {p: -math.log(len(pieces)) for p in pieces}
    for _ in range(em_rounds):
        vocab = [("<unk>", 0.0)] + sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))
        model = Tokenizer(Unigram(vocab, unk_id=0, byte_fallback=False))
        counts: Counter = Counter()
        for enc, f in zip(model.encode_batch(word_list, add_special_tokens=False), freqs):
            for t in enc.tokens:
                counts[t] += f
        # every candidate stays (unused ones at the smoothing floor: words the corpus lacks
        # get real subword segmentations); -1e-4 * rank keeps all scores apart, so that no
        # two segmentations tie. float32, as spiece.model stores them.
        total = sum(counts.values()) + 0.5 * len(pieces)
        scores = {
            p: float(np.float32(math.log((counts[p] + 0.5) / total) - 1e-4 * rank)) for rank, p in enumerate(pieces)
        }
    return [(s, 0.0) for s in SIGLIP_SPECIALS] + sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))


def siglip_tokenizer_json(vocab: list[tuple[str, float]], charsmap: bytes) -> Tokenizer:
    tok = Tokenizer(Unigram(vocab, unk_id=SIGLIP_SPECIALS.index("<unk>"), byte_fallback=False))
    tok.normalizer, tok.pre_tokenizer = siglip_normalizer(charsmap), siglip_pre_tokenizer()
    tok.decoder = decoders.Metaspace(replacement=SPIECE_UNDERLINE, prepend_scheme="always", split=True)
    tok.post_processor = processors.TemplateProcessing(
        single=["$A", "</s>"], pair=["$A", "</s>", "$B", "</s>"], special_tokens=[("</s>", 1)]
    )
    tok.add_special_tokens([AddedToken(s, normalized=False, special=True) for s in SIGLIP_SPECIALS])
    assert [tok.token_to_id(s) for s in SIGLIP_SPECIALS] == [0, 1, 2]
    return tok


def python_unigram_ids(normalized: str, vocab: list, unk_id: int) -> list[int]:
    """tokenizer.json's Metaspace + Unigram in plain Python, on an already normalised text:
    spaces -> "▁" and a "▁" in front, words split before each "▁", Viterbi per word (highest
    sum of scores), an unknown character scores min_score - 10 as <unk>, runs of <unk> fuse."""
    if not normalized:
        return []
    ids_scores = {piece: (i, score) for i, (piece, score) in enumerate(vocab)}
    unk_score = min(score for _, score in vocab) - 10.0
    longest = max(len(piece) for piece, _ in vocab)
    text = normalized.replace(" ", SPIECE_UNDERLINE)
    if not text.startswith(SPIECE_UNDERLINE):
        text = SPIECE_UNDERLINE + text
    out: list[int] = []
    for word in re.findall(f"{SPIECE_UNDERLINE}[^{SPIECE_UNDERLINE}]*|[^{SPIECE_UNDERLINE}]+", text):
        n = len(word)
        best: list = [(0.0, None)] + [(-math.inf, None)] * n  # (score, (start, id))
        for i in range(n):
            if best[i][0] == -math.inf:
                continue
            single = False
            for j in range(i + 1, min(n, i + longest) + 1):
                hit = ids_scores.get(word[i:j])
                if hit is not None:
                    single |= j == i + 1
                    if best[i][0] + hit[1] > best[j][0]:
                        best[j] = (best[i][0] + hit[1], (i, hit[0]))
            if not single and best[i][0] + unk_score > best[i + 1][0]:
                best[i + 1] = (best[i][0] + unk_score, (i, unk_id))
        path, j = [], n
        while j > 0:
            i, tid = best[j][1]
            path.append(tid)
            j = i
        for tid in reversed(path):
            if not (tid == unk_id and out and out[-1] == unk_id):
                out.append(tid)
    return out


def siglip_spiece_model(vocab: list[tuple[str, float]], template) -> bytes:
    """The same vocabulary as a SentencePiece model (what google/siglip-* ship)."""
    from transformers.convert_slow_tokenizer import import_protobuf

    pb = import_protobuf()
    m = pb.ModelProto()
    ts = m.trainer_spec
    ts.model_type = pb.TrainerSpec.UNIGRAM
    ts.vocab_size = len(vocab)
    ts.byte_fallback = False
    ts.unk_id, ts.bos_id, ts.eos_id, ts.pad_id = 2, -1, 1, 0
    m.normalizer_spec.CopyFrom(template.normalizer_spec)
    types = {"<pad>": pb.ModelProto.SentencePiece.CONTROL, "</s>": pb.ModelProto.SentencePiece.CONTROL,
             "<unk>": pb.ModelProto.SentencePiece.UNKNOWN}
    for piece, score in vocab:
        p = m.pieces.add()
        p.piece, p.score, p.type = piece, score, types.get(piece, pb.ModelProto.SentencePiece.NORMAL)
    return m.SerializeToString()


def save_siglip_tokenizer(out_dir: Path, template) -> None:
    """tokenizer.json + spiece.model + tokenizer_config.json, as a google/siglip-* repo has
    (the Hub's have no tokenizer.json: this one is what a converter makes of spiece.model)."""
    charsmap = template.normalizer_spec.precompiled_charsmap
    vocab = train_siglip_vocab(charsmap)
    siglip_tokenizer_json(vocab, charsmap).save(str(out_dir / "tokenizer.json"))
    (out_dir / "spiece.model").write_bytes(siglip_spiece_model(vocab, template))
    config = {
        "additional_special_tokens": [],
        "do_lower_case": True,
        "eos_token": "</s>",
        "model_input_names": ["input_ids"],
        "model_max_length": CONTEXT,
        "pad_token": "</s>",  # SigLIP pads with </s> (id 1)
        "padding_side": "right",
        "sp_model_kwargs": {},
        "tokenizer_class": "SiglipTokenizer",
        "unk_token": "<unk>",
    }
    (out_dir / "tokenizer_config.json").write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")


def build_gemma_vocab(vocab_size: int = 800):
    """Gemma-style BPE: (vocab dict, merges). Byte pieces right after the specials."""
    tr = Tokenizer(BPE(unk_token="<unk>", fuse_unk=True, byte_fallback=True))
    tr.normalizer = normalizers.Replace(" ", SPIECE_UNDERLINE)
    # SentencePiece-style words for training ("▁" starts a word; split_digits), so that no
    # merge crosses a word boundary; at inference BPE runs over the whole text, as Gemma's
    tr.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Metaspace(replacement=SPIECE_UNDERLINE, prepend_scheme="never", split=True),
            pre_tokenizers.Digits(individual_digits=True),
        ]
    )
    tr.train_from_iterator(
        corpus(), trainers.BpeTrainer(vocab_size=vocab_size, show_progress=False, special_tokens=GEMMA_SPECIALS)
    )
    trained = json.loads(tr.to_str())["model"]
    vocab = {s: i for i, s in enumerate(GEMMA_SPECIALS)}
    for b in range(256):
        vocab[f"<0x{b:02X}>"] = len(vocab)
    for piece, _ in sorted(trained["vocab"].items(), key=lambda kv: kv[1]):
        if piece not in vocab:
            vocab[piece] = len(vocab)
    merges = [tuple(m) if isinstance(m, list) else tuple(m.split(" ")) for m in trained["merges"]]
    return vocab, merges


def python_bpe_ids(text: str, vocab: dict, merges: list, add_eos: int | None) -> list[int]:
    """Gemma's tokenizer.json semantics in plain Python: spaces -> "▁", BPE over the whole
    text (lowest-ranked pair first, leftmost on ties), byte fallback for unknown symbols."""
    rank = {m: i for i, m in enumerate(merges)}
    syms = list(text.replace(" ", SPIECE_UNDERLINE))
    while len(syms) > 1:
        best = min(
            ((rank[(a, b)], i) for i, (a, b) in enumerate(zip(syms, syms[1:])) if (a, b) in rank), default=None
        )
        if best is None:
            break
        i = best[1]
        syms[i : i + 2] = [syms[i] + syms[i + 1]]
    ids = []
    for s in syms:
        if s in vocab:
            ids.append(vocab[s])
        else:
            ids.extend(vocab[f"<0x{b:02X}>"] for b in s.encode("utf-8"))
    return ids + ([add_eos] if add_eos is not None else [])


def save_gemma_tokenizer(vocab: dict, merges: list, out_dir: Path) -> None:
    ht = GemmaTokenizer(
        vocab=vocab,
        merges=merges,
        add_bos_token=False,
        add_eos_token=True,
        padding_side="right",
        model_input_names=["input_ids"],
        model_max_length=CONTEXT,
    )
    ht.save_pretrained(out_dir)
    j = json.loads((out_dir / "tokenizer.json").read_text(encoding="utf-8"))
    norm, pre = j["normalizer"], j["pre_tokenizer"]
    assert norm == {"type": "Replace", "pattern": {"String": " "}, "content": SPIECE_UNDERLINE}, norm
    assert pre["type"] == "Split" and pre["behavior"] == "MergedWithPrevious", pre
    assert [d["type"] for d in j["decoder"]["decoders"]] == ["Replace", "ByteFallback", "Fuse"], j["decoder"]
    assert j["model"]["byte_fallback"] and j["model"]["fuse_unk"], j["model"]["type"]
    single = j["post_processor"]["single"]
    assert single == [{"Sequence": {"id": "A", "type_id": 0}}, {"SpecialToken": {"id": "<eos>", "type_id": 0}}], single


# ----------------------------------------------------------------------------- specs


@dataclasses.dataclass
class Spec:
    name: str
    out_dir: Path
    seed: int
    tokenizer: str  # "siglip" (T5 Unigram) or "gemma" (byte-fallback BPE)
    resample: int  # PIL: 2 bilinear, 3 bicubic
    vision: dict
    text: dict  # without vocab_size / token ids (filled from the tokenizer)
    images: list[str]
    texts: list[str]  # the exact-fit text is appended when generating


def specs() -> list[Spec]:
    texts = list(mf.TINY_TEXTS) + EXTRA_TEXTS
    common = dict(hidden_act="gelu_pytorch_tanh", layer_norm_eps=1e-6)
    return [
        Spec(
            name="tiny-siglip",
            out_dir=FIXTURES / "tiny-siglip",
            seed=2468,
            tokenizer="siglip",
            resample=3,
            vision=dict(hidden_size=32, num_attention_heads=4, intermediate_size=52, num_hidden_layers=2,
                        image_size=48, patch_size=8, **common),
            text=dict(hidden_size=40, num_attention_heads=4, intermediate_size=68, num_hidden_layers=2,
                      max_position_embeddings=CONTEXT, projection_size=32, **common),
            images=ALL_IMAGES,
            texts=texts,
        ),
        Spec(
            name="tiny-siglip2",
            out_dir=FIXTURES / "tiny-siglip2",
            seed=1357,
            tokenizer="gemma",
            resample=2,
            vision=dict(hidden_size=36, num_attention_heads=3, intermediate_size=60, num_hidden_layers=2,
                        image_size=40, patch_size=8, **common),
            text=dict(hidden_size=36, num_attention_heads=2, intermediate_size=44, num_hidden_layers=2,
                      max_position_embeddings=CONTEXT, projection_size=36, **common),
            images=ALL_IMAGES,
            texts=texts,
        ),
    ]


# ----------------------------------------------------------------------------- tokenising


def is_siglip1_tokenizer(out_dir: Path) -> bool:
    cfg = json.loads((out_dir / "tokenizer_config.json").read_text())
    return cfg["tokenizer_class"] == "SiglipTokenizer"


def pipeline_tokenizer(out_dir: Path):
    """(tokenizer, preprocess) such that tokenizer(preprocess(text)) is what the zero-shot
    pipeline computes for the directory, with the pinned packages.

    SigLIP 1: the pipeline loads the slow SiglipTokenizer, which needs the sentencepiece
    package (not pinned). Its canonicalize_text is re-implemented here, followed by transformers'
    fast backend on tokenizer.json; tokenize() compares that with the slow tokenizer itself
    whenever sentencepiece can be imported. SigLIP 2: AutoTokenizer -> GemmaTokenizer."""
    if is_siglip1_tokenizer(out_dir):
        tok = TokenizersBackend.from_pretrained(out_dir)
        prep = canonicalize_text
    else:
        tok = AutoTokenizer.from_pretrained(out_dir)
        assert type(tok).__name__ == "GemmaTokenizer", type(tok)

        def prep(t):
            return t

    assert tok.model_input_names == ["input_ids"], tok.model_input_names
    assert tok.padding_side == "right"
    return tok, prep


def tokenize(out_dir: Path, texts: list[str]):
    """input_ids as the pipeline makes them, cross-checked; returns (ids [n, 64], info)."""
    cfg = SiglipConfig.from_pretrained(out_dir)
    tok, prep = pipeline_tokenizer(out_dir)
    inputs = [prep(t) for t in texts]
    batch = tok(inputs, padding="max_length", max_length=CONTEXT, truncation=True, return_tensors="pt")
    assert list(batch.keys()) == ["input_ids"], list(batch.keys())  # no attention mask, as on the Hub
    ids = batch["input_ids"]
    assert ids.shape == (len(texts), CONTEXT)
    pad, eos = tok.pad_token_id, tok.eos_token_id
    assert (pad, eos) == (cfg.text_config.pad_token_id, cfg.text_config.eos_token_id), (pad, eos)
    assert len(tok) == cfg.text_config.vocab_size

    # the raw `tokenizers` library on the same file: same ids
    raw = Tokenizer.from_file(str(out_dir / "tokenizer.json"))
    unpadded = [raw.encode(t).ids for t in inputs]
    n_tokens, truncated = [], []
    for i, (t, u) in enumerate(zip(texts, unpadded)):
        assert u[-1] == eos and eos not in u[:-1], (t, u)
        cut = u[: CONTEXT - 1] + [eos] if len(u) > CONTEXT else u
        row = ids[i].tolist()
        assert row == cut + [pad] * (CONTEXT - len(cut)), (t, row, cut)
        n_tokens.append(len(cut))
        truncated.append(len(u) > CONTEXT)

    # an independent path to the same ids
    if is_siglip1_tokenizer(out_dir):
        # plain-Python Metaspace + Unigram Viterbi (on the Precompiled-normalised text)
        j = json.loads((out_dir / "tokenizer.json").read_text(encoding="utf-8"))
        vocab = [tuple(v) for v in j["model"]["vocab"]]
        for t, u in zip(inputs, unpadded):
            norm = raw.normalizer.normalize_str(t)
            assert python_unigram_ids(norm, vocab, j["model"]["unk_id"]) + [eos] == u, t
        if _sentencepiece() is not None:  # the slow tokenizer the pipeline really uses
            slow = AutoTokenizer.from_pretrained(out_dir)
            assert type(slow).__name__ == "SiglipTokenizer", type(slow)
            sb = slow(texts, padding="max_length", max_length=CONTEXT, truncation=True, return_tensors="pt")
            assert list(sb.keys()) == ["input_ids"], list(sb.keys())
            for i, t in enumerate(texts):
                assert sb["input_ids"][i].tolist() == ids[i].tolist(), (t, sb["input_ids"][i].tolist(), ids[i].tolist())
            print(f"  {out_dir.name}: slow SiglipTokenizer (sentencepiece {_sentencepiece().__version__}) agrees")
    else:  # SigLIP 2: plain-Python whole-text BPE with byte fallback
        j = json.loads((out_dir / "tokenizer.json").read_text(encoding="utf-8"))
        merges = [tuple(m) if isinstance(m, list) else tuple(m.split(" ")) for m in j["model"]["merges"]]
        for t, u in zip(texts, unpadded):
            assert python_bpe_ids(t, j["model"]["vocab"], merges, eos) == u, t

    eos_positions = [row.index(eos) for row in ids.tolist()]
    info = dict(
        pad_token_id=pad,
        eos_token_id=eos,
        eos_positions=eos_positions,
        n_tokens=n_tokens,
        truncated=truncated,
        tokenizer=SIGLIP_TOKENIZER_DESCRIPTION if is_siglip1_tokenizer(out_dir) else (
            "transformers AutoTokenizer -> GemmaTokenizer, padding=max_length, max_length=64, truncation=True"
        ),
    )
    return ids, info


def exact_fit_text(out_dir: Path) -> str:
    """A text that fills the 64 positions exactly (63 ids + eos, no padding, no truncation):
    words the tokenizer was not trained on (subword pieces), then "cat" as often as fits."""
    _, prep = pipeline_tokenizer(out_dir)
    raw = Tokenizer.from_file(str(out_dir / "tokenizer.json"))
    base = " ".join(UNSEEN_WORDS)
    for n in range(CONTEXT):
        text = base + " cat" * n
        if len(raw.encode(prep(text)).ids) == CONTEXT:
            return text
    raise AssertionError("no exact-fit text found")


# ----------------------------------------------------------------------------- model


# make_fixtures.PERTURB, without its shared direction in the final LayerNorms (the logit scale
# and bias below take care of the spread of the probabilities)
PERTURB = dict(mf.PERTURB, common_bias=0.0)
# tanh GELU and erf GELU differ by at most 4.7e-4 (at |x| = 2.7), and with signs that cancel
# over a spread of pre-activations: in transformers' init (even with PERTURB) switching one for
# the other changes these tiny models' features by only ~1e-4. A quarter of each MLP's hidden
# units (encoders and MAP head) are therefore moved to x ~ -2.7, where the two differ most
# relative to the output (gelu(-2.7) = -0.0094), and their fc2 columns amplified.
GELU_WINDOW = dict(fraction=0.25, center=-2.7, center_std=0.3, fc1_scale=0.3, fc2_gain=8.0)


def perturb_siglip(model: SiglipModel, seed: int, window: dict = GELU_WINDOW) -> None:
    """What make_fixtures.perturb_weights does not reach. transformers' init leaves the MAP
    head's in_proj bias at 0 and gives small q/k, so that its attention over the patches is
    close to uniform; the patch embedding (a Conv2d) keeps a zero bias; and GELU_WINDOW."""
    gen = torch.Generator().manual_seed(seed)
    head = model.vision_model.head
    d = head.probe.shape[-1]
    conv = model.vision_model.embeddings.patch_embedding
    with torch.no_grad():
        for name, mod in model.named_modules():
            if name.endswith("mlp"):
                n_hidden = mod.fc1.out_features
                idx = torch.randperm(n_hidden, generator=gen)[: round(window["fraction"] * n_hidden)]
                mod.fc1.weight[idx] *= window["fc1_scale"]
                mod.fc1.bias[idx] = window["center"] + window["center_std"] * torch.randn(len(idx), generator=gen)
                mod.fc2.weight[:, idx] *= window["fc2_gain"]
        conv.bias.copy_(0.1 * torch.randn(conv.bias.shape, generator=gen))
        head.probe.copy_(torch.randn(head.probe.shape, generator=gen))
        head.attention.in_proj_weight[: 2 * d].mul_(2.0)  # q and k: sharper attention
        head.attention.in_proj_bias.copy_(0.1 * torch.randn(head.attention.in_proj_bias.shape, generator=gen))


def choose_logit_scale_bias(cos: np.ndarray) -> tuple[float, float]:
    """exp(scale) * cos + bias maps the 10th..90th percentile of the cosines to logits -2.5..2.5."""
    lo, hi = np.percentile(cos, [10, 90])
    s = 5.0 / (hi - lo)
    return round(math.log(s), 3), round(-s * (lo + hi) / 2, 3)


def write_preprocessor_config(spec: Spec, image_size: int) -> None:
    proc = PilImageProcessor(
        size={"height": image_size, "width": image_size},
        resample=spec.resample,
        image_mean=[0.5, 0.5, 0.5],
        image_std=[0.5, 0.5, 0.5],
        rescale_factor=1 / 255,
    )
    proc.save_pretrained(spec.out_dir)
    path = spec.out_dir / "preprocessor_config.json"
    d = json.loads(path.read_text())
    d["image_processor_type"] = "SiglipImageProcessor"  # as on the Hub (no "Pil")
    assert "crop_size" not in d and not d.get("do_center_crop"), d
    path.write_text(json.dumps(d, indent=2, sort_keys=True) + "\n")


def build_and_save(spec: Spec) -> list[str]:
    template = spm_normalizer_template() if spec.tokenizer == "siglip" else None
    if spec.out_dir.exists():
        shutil.rmtree(spec.out_dir)
    spec.out_dir.mkdir(parents=True)

    # tokenizer first: the vocabulary size and token ids go into the config
    if spec.tokenizer == "siglip":
        save_siglip_tokenizer(spec.out_dir, template)
        ids = dict(pad_token_id=1, eos_token_id=1, bos_token_id=None)
    else:
        vocab, merges = build_gemma_vocab()
        save_gemma_tokenizer(vocab, merges, spec.out_dir)
        ids = dict(pad_token_id=0, eos_token_id=1, bos_token_id=2)
    raw = Tokenizer.from_file(str(spec.out_dir / "tokenizer.json"))
    vocab_size = raw.get_vocab_size(with_added_tokens=True)

    cfg = SiglipConfig(text_config=dict(spec.text, vocab_size=vocab_size, **ids), vision_config=dict(spec.vision))
    assert cfg.text_config.projection_size == cfg.vision_config.hidden_size
    torch.manual_seed(spec.seed)
    model = SiglipModel(cfg).eval()
    mf.perturb_weights(model, spec.seed + 1, PERTURB)
    perturb_siglip(model, spec.seed + 2)
    cfg.save_pretrained(spec.out_dir)  # the tokenizer check below reads it
    write_preprocessor_config(spec, cfg.vision_config.image_size)

    # logit scale and bias from this model's cosines on the fixture's inputs
    texts = spec.texts + [exact_fit_text(spec.out_dir)]
    pv = torch.from_numpy(pixel_values(spec.out_dir, spec.images)).double()
    input_ids, _ = tokenize(spec.out_dir, texts)
    m64 = SiglipModel(cfg).double().eval()
    m64.load_state_dict({k: v.double() for k, v in model.state_dict().items()})
    with torch.no_grad():
        cos = torch.nn.functional.normalize(mf._pooled(m64.get_image_features(pixel_values=pv)), dim=-1) @ (
            torch.nn.functional.normalize(mf._pooled(m64.get_text_features(input_ids=input_ids)), dim=-1).T
        )
        scale, bias = choose_logit_scale_bias(cos.numpy())
        model.logit_scale.fill_(scale)
        model.logit_bias.fill_(bias)
    model.save_pretrained(spec.out_dir, safe_serialization=True)
    (spec.out_dir / "model.safetensors").chmod(0o644)
    return texts


# ----------------------------------------------------------------------------- reference


def pixel_values(out_dir: Path, images: list[str]) -> np.ndarray:
    proc = PilImageProcessor.from_pretrained(out_dir)
    assert getattr(proc, "backend", "pil") == "pil", type(proc)
    cfg = SiglipConfig.from_pretrained(out_dir)
    S = cfg.vision_config.image_size
    pv = proc(images=mf.load_images(images, IMAGES_DIR), return_tensors="np")["pixel_values"].astype(np.float32)
    assert pv.shape == (len(images), 3, S, S), pv.shape
    return pv


def load_reference_model(out_dir: Path, attn_implementation: str = "sdpa") -> SiglipModel:
    model = SiglipModel.from_pretrained(out_dir, dtype="auto", attn_implementation=attn_implementation)
    return model.double().eval()


def _act(name: str):
    return {
        "gelu_pytorch_tanh": lambda x: F.gelu(x, approximate="tanh"),
        "gelu": F.gelu,
    }[name]


def _ln(x, ln):
    return F.layer_norm(x, (x.shape[-1],), ln.weight, ln.bias, ln.eps)


def _encoder(x, layers, heads: int, act, mask=None):
    for layer in layers:
        a = layer.self_attn
        h = _ln(x, layer.layer_norm1)
        B, L, D = h.shape
        hd = D // heads

        def proj(lin):
            return F.linear(h, lin.weight, lin.bias).view(B, L, heads, hd).transpose(1, 2)

        q, k, v = proj(a.q_proj), proj(a.k_proj), proj(a.v_proj)
        scores = q @ k.transpose(-1, -2) * hd**-0.5
        if mask is not None:
            scores = scores + mask
        o = (scores.softmax(-1) @ v).transpose(1, 2).reshape(B, L, D)
        x = x + F.linear(o, a.out_proj.weight, a.out_proj.bias)
        h = _ln(x, layer.layer_norm2)
        mlp = layer.mlp
        x = x + F.linear(act(F.linear(h, mlp.fc1.weight, mlp.fc1.bias)), mlp.fc2.weight, mlp.fc2.bias)
    return x


def manual_text(model: SiglipModel, ids: torch.Tensor, *, act="gelu_pytorch_tanh", causal=False, pool="last",
                pad_mask_from=None, return_pooled=False):
    """SiglipTextModel + head, re-implemented; the variants are what a port might get wrong."""
    tm = model.text_model
    B, L = ids.shape
    x = tm.embeddings.token_embedding.weight[ids] + tm.embeddings.position_embedding.weight[:L]
    mask = torch.zeros(B, 1, L, L, dtype=x.dtype)
    if causal:
        mask = mask + torch.full((L, L), float("-inf"), dtype=x.dtype).triu(1)
    if pad_mask_from is not None:  # mask the keys from this index on (per row)
        keys = torch.arange(L)[None, :] >= torch.tensor(pad_mask_from)[:, None]
        mask = mask.masked_fill(keys[:, None, None, :], float("-inf"))
    x = _encoder(x, tm.encoder.layers, tm.config.num_attention_heads, _act(act), mask)
    x = _ln(x, tm.final_layer_norm)
    if pool == "last":
        pooled = x[:, -1]
    elif pool == "first_eos":
        eos = tm.config.eos_token_id
        pooled = x[torch.arange(B), (ids == eos).int().argmax(dim=-1)]
    else:
        raise ValueError(pool)
    out = F.linear(pooled, tm.head.weight, tm.head.bias)
    return (out, pooled) if return_pooled else out


def manual_vision(model: SiglipModel, pv: torch.Tensor, *, act="gelu_pytorch_tanh", pool="map", return_hidden=False):
    """SiglipVisionModel (MAP head pooling), re-implemented, with variants."""
    vm = model.vision_model
    cfg = vm.config
    emb = vm.embeddings
    x = F.conv2d(pv, emb.patch_embedding.weight, emb.patch_embedding.bias, stride=cfg.patch_size)
    x = x.flatten(2).transpose(1, 2) + emb.position_embedding.weight
    x = _encoder(x, vm.encoder.layers, cfg.num_attention_heads, _act(act))
    x = _ln(x, vm.post_layernorm)
    hidden = x
    if pool == "mean":
        out = x.mean(dim=1)
    elif pool == "token0":
        out = x[:, 0]
    elif pool in ("map", "map_uniform"):
        head = vm.head
        att = head.attention
        B, P, D = x.shape
        H = att.num_heads
        hd = D // H
        wq, wk, wv = att.in_proj_weight.chunk(3)
        bq, bk, bv = att.in_proj_bias.chunk(3)
        q = F.linear(head.probe.expand(B, 1, D), wq, bq).view(B, 1, H, hd).transpose(1, 2)
        k = F.linear(x, wk, bk).view(B, P, H, hd).transpose(1, 2)
        v = F.linear(x, wv, bv).view(B, P, H, hd).transpose(1, 2)
        w = (q @ k.transpose(-1, -2) * hd**-0.5).softmax(-1)
        if pool == "map_uniform":
            w = torch.full_like(w, 1.0 / P)
        o = (w @ v).transpose(1, 2).reshape(B, 1, D)
        r = F.linear(o, att.out_proj.weight, att.out_proj.bias)
        h = _ln(r, head.layernorm)
        mlp = head.mlp
        h = F.linear(_act(act)(F.linear(h, mlp.fc1.weight, mlp.fc1.bias)), mlp.fc2.weight, mlp.fc2.bias)
        out = (r + h)[:, 0]
    else:
        raise ValueError(pool)
    return (out, hidden) if return_hidden else out


def _close(a, b, rtol, atol, what):
    assert torch.allclose(a, b, rtol=rtol, atol=atol), f"{what}: max |diff| {(a - b).abs().max().item():.3g}"


def compute_reference(out_dir: Path, images: list[str], texts: list[str]):
    cfg = SiglipConfig.from_pretrained(out_dir)
    model = load_reference_model(out_dir)
    pv_np = pixel_values(out_dir, images)
    pv = torch.from_numpy(pv_np).double()
    input_ids, info = tokenize(out_dir, texts)

    with torch.no_grad():
        image_features = mf._pooled(model.get_image_features(pixel_values=pv))
        text_features = mf._pooled(model.get_text_features(input_ids=input_ids))
        vout = model.vision_model(pixel_values=pv)
        tout = model.text_model(input_ids=input_ids)
        full = model(input_ids=input_ids, pixel_values=pv)
        logits = full.logits_per_image
        probs = torch.sigmoid(logits)

        # --- what transformers does, spelled out ------------------------------------------
        ni = image_features / image_features.norm(dim=-1, keepdim=True)
        nt = text_features / text_features.norm(dim=-1, keepdim=True)
        cosines = ni @ nt.T
        manual_logits = model.logit_scale.exp() * cosines + model.logit_bias
        _close(manual_logits, logits, 1e-12, 1e-12, "logits = exp(scale) * cos + bias")
        _close(full.logits_per_text, logits.T, 0, 0, "logits_per_text")
        _close(vout.pooler_output, image_features, 0, 0, "vision pooler = image features")
        text_pooled = tout.last_hidden_state[:, -1]
        _close(model.text_model.head(text_pooled), text_features, 1e-12, 1e-14, "text head at the last position")
        assert image_features.shape == (len(images), cfg.vision_config.hidden_size)
        assert text_features.shape == (len(texts), cfg.text_config.projection_size)

        # an independent float64 attention path (eager, float64 softmax)
        m2 = load_reference_model(out_dir, mf._register_eager_f64())
        out2 = m2(input_ids=input_ids, pixel_values=pv)
        _close(out2.logits_per_image, logits, 1e-11, 1e-11, "eager_f64 logits")
        _close(mf._pooled(m2.get_image_features(pixel_values=pv)), image_features, 1e-11, 1e-13, "eager_f64 image")
        _close(mf._pooled(m2.get_text_features(input_ids=input_ids)), text_features, 1e-11, 1e-13, "eager_f64 text")

        # this file's re-implementation of both towers
        mi, mh = manual_vision(model, pv, return_hidden=True)
        _close(mi, image_features, 1e-10, 1e-12, "manual vision")
        _close(mh, vout.last_hidden_state, 1e-10, 1e-12, "manual vision hidden")
        _close(manual_text(model, input_ids), text_features, 1e-10, 1e-12, "manual text")

    # the reference ran on exactly the stored weights
    from safetensors import safe_open

    state = model.state_dict()
    with safe_open(str(out_dir / "model.safetensors"), "pt") as f:
        assert set(f.keys()) == set(state.keys()), set(f.keys()) ^ set(state.keys())
        for k in f.keys():
            t = f.get_tensor(k)
            assert t.dtype == torch.float32, (k, t.dtype)
            assert torch.equal(t.double(), state[k]), k
        logit_scale = float(f.get_tensor("logit_scale").double().item())
        logit_bias = float(f.get_tensor("logit_bias").double().item())

    pre = json.loads((out_dir / "preprocessor_config.json").read_text())
    cases = {
        "images": list(images),
        "texts": list(texts),
        "input_ids": input_ids.tolist(),
        "logit_scale": logit_scale,
        "logit_bias": logit_bias,
        "pad_token_id": info["pad_token_id"],
        "eos_token_id": info["eos_token_id"],
        "eos_positions": info["eos_positions"],
        "n_tokens": info["n_tokens"],
        "truncated": info["truncated"],
        "context_length": CONTEXT,
        "image_size": cfg.vision_config.image_size,
        "resample": pre["resample"],
        "tokenizer": info["tokenizer"],
    }
    arrays = {
        "pixel_values": pv_np,
        "image_features": image_features.numpy().astype(np.float64),
        "text_features": text_features.numpy().astype(np.float64),
        "cosines": cosines.numpy().astype(np.float64),
        "logits": logits.numpy().astype(np.float64),
        "probs": probs.numpy().astype(np.float64),
        "vision_last_hidden": vout.last_hidden_state.numpy().astype(np.float64),
        "text_pooled": text_pooled.numpy().astype(np.float64),
    }
    return cases, arrays


def _dumps(obj, level: int = 0) -> str:
    """JSON with one line per list of scalars (input_ids rows stay readable)."""
    pad = " " * (level + 1)
    if isinstance(obj, dict):
        items = [f"{pad}{json.dumps(k)}: {_dumps(v, level + 1)}" for k, v in obj.items()]
        return "{\n" + ",\n".join(items) + "\n" + " " * level + "}"
    if isinstance(obj, list) and any(isinstance(v, (list, dict)) for v in obj):
        return "[\n" + ",\n".join(pad + _dumps(v, level + 1) for v in obj) + "\n" + " " * level + "]"
    if isinstance(obj, list) and any(isinstance(v, str) for v in obj):
        return "[\n" + ",\n".join(pad + json.dumps(v, ensure_ascii=False) for v in obj) + "\n" + " " * level + "]"
    return json.dumps(obj, ensure_ascii=False, separators=(", ", ": "))


def write_expected(out_dir: Path, cases: dict, arrays: dict) -> None:
    exp = out_dir / "expected"
    if exp.exists():
        shutil.rmtree(exp)
    exp.mkdir()
    text = _dumps(cases) + "\n"
    assert json.loads(text) == cases
    (exp / "cases.json").write_text(text, encoding="utf-8")
    for k, v in arrays.items():
        np.save(exp / f"{k}.npy", np.ascontiguousarray(v))  # C order: what npy.rs reads


def verify_expected(out_dir: Path) -> None:
    """Reload everything from disk, recompute, and compare with expected/."""
    exp = out_dir / "expected"
    cases = json.loads((exp / "cases.json").read_text(encoding="utf-8"))
    new_cases, new_arrays = compute_reference(out_dir, cases["images"], cases["texts"])
    assert new_cases == cases, "cases.json differs on recomputation"
    on_disk = sorted(p.stem for p in exp.glob("*.npy"))
    assert on_disk == sorted(new_arrays), (on_disk, sorted(new_arrays))
    mf.compare_expected(out_dir, new_arrays)


# ----------------------------------------------------------------------------- checks


def sensitivity_checks(out_dir: Path, cases: dict, arrays: dict) -> dict:
    """Make sure the fixture can tell apart what it is meant to test. Returns the numbers."""
    name = out_dir.name
    probs = arrays["probs"]
    inside = float(((probs > 0.02) & (probs < 0.98)).mean())
    print(f"  {name}: probs in (0.02, 0.98): {inside:.0%}, range [{probs.min():.4f}, {probs.max():.4f}]")
    assert inside >= 0.75, f"{name}: probabilities too saturated"
    assert probs.min() < 0.2 and probs.max() > 0.8, f"{name}: probabilities not spread"
    for key, inputs in (("image_features", cases["images"]), ("text_features", cases["input_ids"])):
        f = arrays[key] / np.linalg.norm(arrays[key], axis=-1, keepdims=True)
        same = np.array([[a == b for b in inputs] for a in inputs])  # "" and "!!!" are the same ids in SigLIP 1
        off = (f @ f.T)[~same]
        assert off.max() < 0.9999, f"{name}: {key} nearly identical across inputs (max cos {off.max():.6f})"

    model = load_reference_model(out_dir)
    pv = torch.from_numpy(arrays["pixel_values"]).double()
    ids = torch.tensor(cases["input_ids"])
    scale, bias = math.exp(cases["logit_scale"]), cases["logit_bias"]

    def probs_with(img, txt):
        ni = img / img.norm(dim=-1, keepdim=True)
        nt = txt / txt.norm(dim=-1, keepdim=True)
        return torch.sigmoid(scale * ni @ nt.T + bias).numpy()

    img_ref = torch.from_numpy(arrays["image_features"])
    txt_ref = torch.from_numpy(arrays["text_features"])
    variants = {
        "text: causal mask": ("text", dict(causal=True)),
        "text: erf GELU": ("text", dict(act="gelu")),
        "text: pooled at the first eos": ("text", dict(pool="first_eos")),
        "text: padding masked": ("text", dict(pad_mask_from=cases["n_tokens"])),
        "vision: erf GELU": ("vision", dict(act="gelu")),
        "vision: mean of tokens, no MAP head": ("vision", dict(pool="mean")),
        "vision: token 0, no MAP head": ("vision", dict(pool="token0")),
        "vision: MAP head with uniform attention": ("vision", dict(pool="map_uniform")),
    }
    results = {}
    with torch.no_grad():
        for label, (tower, kw) in variants.items():
            if tower == "text":
                feats = manual_text(model, ids, **kw)
                ref, p = txt_ref, probs_with(img_ref, feats)
            else:
                feats = manual_vision(model, pv, **kw)
                ref, p = img_ref, probs_with(feats, txt_ref)
            d_feat = ((feats - ref).abs().max() / ref.abs().max()).item()
            d_prob = float(np.abs(p - probs).max())
            results[label] = (d_feat, d_prob)
            print(f"  {name}: {label:42s} rel. change of features {d_feat:.1e}, max change of probs {d_prob:.1e}")
            assert d_feat > 1e-4 and d_prob > 1e-4, f"{name}: the fixture can hardly tell '{label}' apart"

    # informative only: layer_norm_eps 1e-5 (CLIP's) instead of SigLIP's 1e-6
    for tower, key in (("text_config", "text_features"), ("vision_config", "image_features")):
        c = SiglipConfig.from_pretrained(out_dir)
        getattr(c, tower).layer_norm_eps = 1e-5
        m = SiglipModel.from_pretrained(out_dir, config=c, dtype="auto", attn_implementation="sdpa").double().eval()
        with torch.no_grad():
            f = manual_text(m, ids) if tower == "text_config" else manual_vision(m, pv)
        ref = torch.from_numpy(arrays[key])
        d = ((f - ref).abs().max() / ref.abs().max()).item()
        results[f"{tower}: layer_norm_eps 1e-5 (informative)"] = (d, None)
        print(f"  {name}: {tower}.layer_norm_eps=1e-5 (informative)     rel. change of features {d:.1e}")

    # informative: the other resampling filter
    proc = PilImageProcessor.from_pretrained(out_dir)
    other = 2 if proc.resample == 3 else 3
    pv2 = proc(images=mf.load_images(cases["images"], IMAGES_DIR), resample=other, return_tensors="np")["pixel_values"]
    d = float(np.abs(pv2 - arrays["pixel_values"]).max())
    results[f"pixel_values with resample={other} (informative)"] = (d, None)
    print(f"  {name}: pixel_values with resample={other}: max |diff| {d:.3f}")
    return results


def describe(out_dir: Path, cases: dict, arrays: dict) -> None:
    print(f"== {out_dir}")
    for k, v in arrays.items():
        print(f"  {k:18s} {str(v.dtype):8s} {v.shape}")
    scale, bias = cases["logit_scale"], cases["logit_bias"]
    print(f"  logit_scale {scale!r} (exp {math.exp(scale):.4f}), logit_bias {bias!r}")
    print(f"  pad {cases['pad_token_id']}, eos {cases['eos_token_id']}")
    print(f"  n_tokens {cases['n_tokens']}")
    for t, ids, n in zip(cases["texts"][:2], cases["input_ids"], cases["n_tokens"]):
        print(f"  {t!r}: {ids[:n]}")
    np.set_printoptions(precision=4, suppress=True, linewidth=160)
    print(f"  probs[{cases['images'][0]}] = {arrays['probs'][0]}")


def dir_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def generate(spec: Spec) -> None:
    texts = build_and_save(spec)
    cases, arrays = compute_reference(spec.out_dir, spec.images, texts)
    write_expected(spec.out_dir, cases, arrays)
    describe(spec.out_dir, cases, arrays)
    sensitivity_checks(spec.out_dir, cases, arrays)
    size = dir_size(spec.out_dir)
    print(f"  {spec.name}: {size} bytes")
    assert size <= BUDGET_BYTES, size


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--verify", action="store_true", help="recompute from the files on disk and compare; write nothing")
    args = ap.parse_args(argv)
    print(f"torch {torch.__version__}, transformers {transformers.__version__}, numpy {np.__version__}")
    all_specs = specs()

    if args.verify:
        for spec in all_specs:
            verify_expected(spec.out_dir)
        return 0

    missing = [n for n in ALL_IMAGES if not (IMAGES_DIR / n).exists()]
    if missing:  # normally committed; make_fixtures.py knows how to (re)make them
        mf.ensure_images(missing)
    for spec in all_specs:
        generate(spec)
    for spec in all_specs:
        verify_expected(spec.out_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
