#!/usr/bin/env python3
"""Write the golden fixtures for `tests/preprocess.rs`.

Run by hand, never in CI:   python3 tools/make_preprocess_fixtures.py
                            python3 tools/make_preprocess_fixtures.py --cases-only
                            (the second recomputes tests/fixtures/preprocess/ from the committed
                            pictures without rewriting tests/fixtures/images/)
Needs: transformers 5 (with its PIL backend), Pillow, numpy, scikit-image (only for its
sample photos; `pip download --no-deps scikit-image` and unzip works too, pass --skimage-data),
and a C compiler with libjpeg's headers (Debian: libjpeg62-turbo-dev) for the one YCCK JPEG,
which Pillow cannot write (tools/ycck_jpeg.c).

What it writes
- tests/fixtures/images/      the pictures: skimage photos copied byte for byte under their
                              own names, plus small derived pictures made here with Pillow
                              (palette+tRNS, 16-bit, GIF, WebP, BMP, CMYK/YCCK JPEG, ICC,
                              EXIF, 1x1, elongated, ...).
- tests/fixtures/preprocess/  one PNG per case holding transformers' *pre-normalisation* crop
                              (uint8, what the processor has right before rescale), and
                              manifest.json naming image, preprocessor config, processor and
                              expected PNG.

Why uint8 PNGs instead of f32 arrays: the pipeline is uint8 -> *1/255 (f64, cast to f32) ->
(x - mean) / std (f32). For every case this script asserts that applying those two steps
to the stored crop reproduces transformers' `pixel_values` to within 1e-6 (in practice
exactly), so the PNG carries all the information at ~1/4 of the size of float32 data.

The reference is `transformers.CLIPImageProcessorPil` (the Pillow/NumPy backend), and
`transformers.SiglipImageProcessorPil` for the cases whose config names
`"image_processor_type": "SiglipImageProcessor"` (SigLIP and SigLIP 2's fixed-resolution
checkpoints: an exact `{height, width}` resize, bicubic or bilinear, no crop). In transformers 5
`CLIPImageProcessor` / `AutoImageProcessor` is the torchvision backend, whose bicubic resize is
not Pillow's: we deliberately do not use it. For the SigLIP cases the script also checks that
transformers' output is nothing but Pillow's `Image.resize((w, h), resample)` of the RGB picture.
Images are opened the way transformers' `load_image` does, minus its final
`.convert("RGB")` (which would drop alpha instead of compositing it):
`ImageOps.exif_transpose(Image.open(path))` handed to the processor as a PIL image.
"""

import argparse
import io
import json
import os
import shutil
import struct
import sys
import zlib

import numpy as np
import PIL
from PIL import Image, ImageOps

import transformers
from transformers import CLIPImageProcessorPil, SiglipImageProcessorPil
from transformers.image_transforms import convert_to_rgb

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
IMAGES = os.path.join(ROOT, "tests", "fixtures", "images")
EXPECTED = os.path.join(ROOT, "tests", "fixtures", "preprocess")

MEAN = [0.48145466, 0.4578275, 0.40821073]
STD = [0.26862954, 0.26130258, 0.27577711]

# openai/clip-vit-base-patch32's preprocessor_config.json, verbatim (old Hub style).
B32 = {
    "crop_size": 224,
    "do_center_crop": True,
    "do_normalize": True,
    "do_resize": True,
    "feature_extractor_type": "CLIPFeatureExtractor",
    "image_mean": MEAN,
    "image_std": STD,
    "resample": 3,
    "size": 224,
}


def new_style(shortest_edge, crop_h, crop_w, **extra):
    """The newer Hub style: dicts for size and crop_size, defaults for the rest."""
    cfg = {
        "size": {"shortest_edge": shortest_edge},
        "crop_size": {"height": crop_h, "width": crop_w},
        "image_processor_type": "CLIPImageProcessor",
        "resample": 3,
    }
    cfg.update(extra)
    return cfg


NO_RESIZE = {"do_resize": False, "do_center_crop": False}  # decode + composite only


def siglip(height, width, resample, **extra):
    """A SigLIP Hub file (google/siglip-base-patch16-224's fields, resized): no crop fields,
    so the Rust parser must take SiglipImageProcessor's defaults, not CLIP's. SigLIP 2's
    fixed-resolution files may say `"resample": 2`, and several SigLIP files carry
    `"do_convert_rgb": null` (pass do_convert_rgb=None): transformers 5 then skips the RGB
    conversion, harmless for an RGB picture but an error for an RGBA one, so the cases with
    it use RGB pictures only."""
    cfg = {
        "do_normalize": True,
        "do_rescale": True,
        "do_resize": True,
        "image_mean": [0.5, 0.5, 0.5],
        "image_processor_type": "SiglipImageProcessor",
        "image_std": [0.5, 0.5, 0.5],
        "processor_class": "SiglipProcessor",
        "resample": resample,
        "rescale_factor": 0.00392156862745098,
        "size": {"height": height, "width": width},
    }
    cfg.update(extra)
    return cfg


BICUBIC, BILINEAR = 3, 2


def png16(arr, color_type, trns=None):
    """Minimal PNG writer for 16-bit samples (Pillow cannot write 16-bit RGB/RGBA/LA)."""
    h, w = arr.shape[:2]
    raw = b"".join(b"\x00" + arr[y].astype(">u2").tobytes() for y in range(h))

    def chunk(tag, data):
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    out = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 16, color_type, 0, 0, 0))
    if trns is not None:
        out += chunk(b"tRNS", trns)
    return out + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")


def gif_image_data(indices):
    """LZW image data (code size 8) that needs no string table: a clear code every 250
    pixels keeps every code 9 bits wide, so any GIF decoder reads it back exactly."""
    codes = []
    for i, v in enumerate(indices.ravel()):
        if i % 250 == 0:
            codes.append(256)
        codes.append(int(v))
    codes.append(257)
    acc = nbits = 0
    data = bytearray()
    for c in codes:
        acc |= c << nbits
        nbits += 9
        while nbits >= 8:
            data.append(acc & 0xFF)
            acc >>= 8
            nbits -= 8
    if nbits:
        data.append(acc)
    blocks = b"".join(bytes([len(data[i:i + 255])]) + data[i:i + 255] for i in range(0, len(data), 255))
    return b"\x08" + blocks + b"\x00"


def gif_file(screen, frames, palette, background):
    """A GIF89a written field by field (Pillow always writes a first frame that fills the
    screen). frames: (left, top, indices, local palette or None, transparent index or None);
    palette None: no global colour table."""

    def table(pal):
        return 0x80 | 0x70 | 7, bytes(pal) + bytes(768 - len(pal))  # 256 entries

    flags, gct = table(palette) if palette is not None else (0, b"")
    out = b"GIF89a" + struct.pack("<HHBBB", *screen, flags, background, 0) + gct
    out += b"!\xff\x0bNETSCAPE2.0\x03\x01\x00\x00\x00"  # loop forever: an animation
    for left, top, idx, local, trns in frames:
        gce_flags = (1 << 2) | (trns is not None)  # disposal 1 (keep), transparency flag
        out += b"!\xf9\x04" + struct.pack("<BHB", gce_flags, 10, trns or 0) + b"\x00"
        h, w = idx.shape
        lflags, lct = table(local) if local is not None else (0, b"")
        out += b"," + struct.pack("<HHHHB", left, top, w, h, lflags) + lct + gif_image_data(idx)
    return out + b";"


def adobe_rgb_profile():
    """An ICC profile with Adobe RGB (1998) primaries and gamma, made by Pillow's own
    LittleCMS (ImageCms can only create sRGB, LAB and XYZ profiles)."""
    import ctypes
    import glob

    libs = glob.glob(os.path.join(os.path.dirname(PIL.__file__), "..", "pillow.libs", "liblcms2*.so*"))
    lcms = ctypes.CDLL(libs[0] if libs else "liblcms2.so.2")

    class XyY(ctypes.Structure):
        _fields_ = [("x", ctypes.c_double), ("y", ctypes.c_double), ("Y", ctypes.c_double)]

    lcms.cmsBuildGamma.restype = ctypes.c_void_p
    lcms.cmsBuildGamma.argtypes = [ctypes.c_void_p, ctypes.c_double]
    lcms.cmsCreateRGBProfile.restype = ctypes.c_void_p
    lcms.cmsCreateRGBProfile.argtypes = [ctypes.POINTER(XyY), ctypes.POINTER(XyY), ctypes.POINTER(ctypes.c_void_p)]
    lcms.cmsSaveProfileToMem.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.POINTER(ctypes.c_uint32)]
    gamma = lcms.cmsBuildGamma(None, 563 / 256)
    primaries = (XyY * 3)(XyY(0.64, 0.33, 1), XyY(0.21, 0.71, 1), XyY(0.15, 0.06, 1))
    profile = lcms.cmsCreateRGBProfile(ctypes.byref(XyY(0.3127, 0.3290, 1)), primaries, (ctypes.c_void_p * 3)(gamma, gamma, gamma))
    n = ctypes.c_uint32(0)
    lcms.cmsSaveProfileToMem(profile, None, ctypes.byref(n))
    buf = ctypes.create_string_buffer(n.value)
    assert lcms.cmsSaveProfileToMem(profile, buf, ctypes.byref(n))
    return buf.raw[: n.value]


def ycck_jpeg(cmyk, quality):
    """Pillow's CMYK image as a YCCK JPEG, through tools/ycck_jpeg.c and the system libjpeg."""
    import subprocess
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        exe = os.path.join(tmp, "ycck_jpeg")
        subprocess.run(["cc", "-O2", "-o", exe, os.path.join(ROOT, "tools", "ycck_jpeg.c"), "-ljpeg"], check=True)
        raw = (255 - np.array(cmyk)).tobytes()  # Adobe's inverted convention, as Pillow writes
        return subprocess.run([exe, str(cmyk.width), str(cmyk.height), str(quality)], input=raw, capture_output=True, check=True).stdout


def without_app14(jpeg):
    """The same JPEG with its Adobe APP14 segment cut out."""
    i = jpeg.index(b"Adobe") - 4  # marker, length, identifier
    assert jpeg[i:i + 2] == b"\xff\xee"
    return jpeg[:i] + jpeg[i + 2 + struct.unpack(">H", jpeg[i + 2:i + 4])[0]:]


def load(name):
    return Image.open(os.path.join(IMAGES, name))


def make_derived(rng):
    """Small derived pictures, each exercising one decode/convert path."""
    chelsea = load("chelsea.png").convert("RGB")
    coffee = load("coffee.png").convert("RGB")
    rocket = load("rocket.jpg").convert("RGB")
    camera = load("camera.png")
    astronaut = load("astronaut.png").convert("RGB")
    hubble = load("hubble_deep_field.jpg").convert("RGB")
    moto = load("motorcycle_left.png").convert("RGB")

    def save(im, name, **kw):
        im.save(os.path.join(IMAGES, name), **kw)

    # RGBA with real, soft transparency; the colour under transparent pixels is garbage
    # (saturated magenta) so dropping alpha instead of compositing would show.
    small = chelsea.resize((240, 160), Image.BICUBIC)
    yy, xx = np.mgrid[0:160, 0:240]
    r = np.hypot((xx - 120) / 120.0, (yy - 80) / 80.0)
    alpha = np.clip((1.1 - r) * 400, 0, 255).astype(np.uint8)
    rgba = np.dstack([np.array(small), alpha])
    rgba[alpha == 0, :3] = (255, 0, 255)
    save(Image.fromarray(rgba, "RGBA"), "chelsea_rgba.png")

    # Every (value, alpha) pair, to pin the compositing arithmetic down exactly.
    x = np.arange(256, dtype=np.uint8)
    ramp = np.zeros((256, 256, 4), np.uint8)
    ramp[..., 0] = x[None, :]
    ramp[..., 1] = 255 - x[None, :]
    ramp[..., 2] = (x[None, :].astype(int) * 7 % 256).astype(np.uint8)
    ramp[..., 3] = x[:, None]
    save(Image.fromarray(ramp, "RGBA"), "alpha_ramp.png")

    # Palette with one fully transparent index (tRNS -> Pillow info["transparency"] = int).
    pal = chelsea.resize((150, 100), Image.BICUBIC).quantize(63)
    pa = np.array(pal)
    pa[20:60, 30:90] = 63
    p = pal.getpalette()[: 63 * 3] + [255, 0, 0]
    pal = Image.fromarray(pa, "P")
    pal.putpalette(p)
    save(pal, "chelsea_palette_trns.png", transparency=63)

    # Palette with per-index alpha (tRNS bytes -> Pillow info["transparency"] = bytes).
    pal2 = rocket.resize((64, 43), Image.BICUBIC).quantize(32)
    alphas = bytes(int(a) for a in np.linspace(0, 255, 32).astype(np.uint8))
    save(pal2, "rocket_palette_alpha.png", transparency=alphas)

    # Gray + alpha (LA).
    cam = camera.resize((96, 96), Image.BICUBIC)
    la_alpha = Image.fromarray(np.tile(np.linspace(0, 255, 96).astype(np.uint8), (96, 1)))
    save(Image.merge("LA", (cam, la_alpha)), "camera_la.png")

    # 1-bit PNG (Pillow mode "1").
    save(cam.point(lambda v: 255 if v > 110 else 0).convert("1"), "camera_1bit.png")

    # RGB with a tRNS colour key.
    key = np.array(chelsea.resize((64, 43), Image.BICUBIC))
    key[10:30, 10:40] = (12, 34, 56)
    save(Image.fromarray(key), "chelsea_rgb_trns.png", transparency=(12, 34, 56))

    # 16-bit RGB: Pillow keeps the most significant byte of each sample.
    c = np.array(coffee.resize((200, 133), Image.BICUBIC)).astype(np.uint16)
    c16 = c * 256 + rng.integers(0, 256, c.shape).astype(np.uint16)
    with open(os.path.join(IMAGES, "coffee_rgb16.png"), "wb") as f:
        f.write(png16(c16, 2))

    # 16-bit RGBA.
    a16 = np.dstack([c16[:64, :64], (np.arange(64)[:, None] * 1040 + np.zeros((64, 64))).astype(np.uint16)])
    with open(os.path.join(IMAGES, "coffee_rgba16.png"), "wb") as f:
        f.write(png16(a16, 6))

    # 16-bit gray (Pillow mode "I;16"): Pillow *clamps* to 255 when converting to RGB,
    # it does not scale. Values spread over 0..1023 so both sides of the clamp appear.
    g = np.array(camera.resize((128, 96), Image.BICUBIC)).astype(np.uint16) * 4 + 3
    g[0:8, 0:8] = 266  # matches tRNS 266 only after clamping?  (no: 255 != 266 & 0xff)
    g[8:16, 0:8] = 10  # matches tRNS 266 & 0xff == 10
    with open(os.path.join(IMAGES, "camera_gray16.png"), "wb") as f:
        f.write(png16(g, 0))
    with open(os.path.join(IMAGES, "camera_gray16_trns.png"), "wb") as f:
        f.write(png16(g, 0, trns=struct.pack(">H", 266)))

    # 16-bit gray + alpha (Pillow opens it as RGBA, keeping the high bytes).
    la16 = np.dstack([g[:48, :48] * 60, np.tile(np.linspace(0, 65535, 48).astype(np.uint16), (48, 1))])
    with open(os.path.join(IMAGES, "camera_la16.png"), "wb") as f:
        f.write(png16(la16, 4))

    # GIF: two frames with a transparent index; only the first one counts.
    gif0 = astronaut.resize((120, 160), Image.BICUBIC).quantize(255)
    ga = np.array(gif0)
    ga[100:140, 20:100] = 255
    gp = gif0.getpalette()[: 255 * 3] + [0, 255, 0]
    f0 = Image.fromarray(ga, "P")
    f0.putpalette(gp)
    f1 = Image.fromarray(np.full_like(ga, 3), "P")
    f1.putpalette(gp)
    save(f0, "astronaut_anim.gif", save_all=True, append_images=[f1], transparency=255, duration=100, loop=0,
         disposal=1, optimize=False)

    # WebP: lossless (exact) and lossy (decoder-dependent).
    save(moto.resize((300, 202), Image.BICUBIC), "motorcycle_lossless.webp", lossless=True)
    save(moto.resize((300, 202), Image.BICUBIC), "motorcycle_lossy.webp", quality=80)
    save(Image.fromarray(rgba[::2, ::2].copy(), "RGBA"), "chelsea_rgba_lossless.webp", lossless=True)

    # BMP, 24-bit.
    save(rocket.resize((160, 107), Image.BICUBIC), "rocket.bmp")

    # Small JPEGs decoded without resizing: measures zune-jpeg against libjpeg-turbo.
    save(rocket.crop((200, 150, 328, 246)), "rocket_crop_q90.jpg", quality=90)  # 4:2:0
    save(rocket.crop((200, 150, 328, 246)), "rocket_crop_444.jpg", quality=95, subsampling=0)
    save(camera.crop((100, 100, 196, 196)), "camera_gray_q85.jpg", quality=85)
    # JPEG with EXIF orientation 6 (rotate 90 clockwise for display).
    exif = Image.Exif()
    exif[0x0112] = 6
    save(rocket.resize((120, 80), Image.BICUBIC), "rocket_exif6.jpg", quality=92, exif=exif.tobytes())

    # EXIF orientations 3 (rotate 180) and 8 (rotate 90 counter-clockwise).
    for o in (3, 8):
        exif = Image.Exif()
        exif[0x0112] = o
        save(rocket.resize((90, 60), Image.BICUBIC), f"rocket_exif{o}.jpg", quality=92, exif=exif.tobytes())

    # Animated GIFs whose first frame covers only part of the logical screen. Pillow gives
    # the screen's size and fills the rest with the frame's transparent index if it has one
    # (white once composited), else with index 0 of the frame's palette (local, else
    # global); the screen's background colour is not used. Index 0 and the background
    # index (3) are colours no frame pixel uses, so any other fill would show.
    quant = astronaut.resize((48, 32), Image.BICUBIC).quantize(14)
    idx = np.array(quant) + 1  # frame pixels use indices 1..14
    pal = [230, 40, 160] + quant.getpalette()[: 14 * 3] + [0, 0, 0]
    pal[3 * 3:3 * 3 + 3] = [10, 220, 30]  # background index 3: green
    idx[idx == 3] = 4
    later = (0, 0, np.full((64, 96), 2, np.uint8), None, None)  # frame 1 covers the screen
    with open(os.path.join(IMAGES, "gif_offset.gif"), "wb") as f:
        f.write(gif_file((96, 64), [(30, 20, idx, None, None), later], pal, background=3))
    local = [20, 200, 220] + pal[3:]
    with open(os.path.join(IMAGES, "gif_offset_local.gif"), "wb") as f:
        f.write(gif_file((96, 64), [(30, 20, idx, local, None), later], pal, background=3))
    trns = idx.copy()
    trns[8:20, 10:30] = 15  # transparent pixels inside the frame too
    with open(os.path.join(IMAGES, "gif_offset_trns.gif"), "wb") as f:
        f.write(gif_file((96, 64), [(30, 20, trns, None, 15), later], pal, background=3))
    # A first frame reaching past the screen: Pillow grows the picture to hold it.
    with open(os.path.join(IMAGES, "gif_overflow.gif"), "wb") as f:
        f.write(gif_file((40, 24), [(8, 4, idx, None, None), later], pal, background=3))
    # No colour table at all: Pillow opens it as grayscale, gray = index.
    with open(os.path.join(IMAGES, "gif_no_palette.gif"), "wb") as f:
        f.write(gif_file((96, 64), [(30, 20, idx * 17, None, None)], None, background=3))
    for name, size, fill in [("gif_offset.gif", (96, 64), (230, 40, 160)), ("gif_offset_local.gif", (96, 64), (20, 200, 220)),
                             ("gif_offset_trns.gif", (96, 64), (255, 255, 255)), ("gif_overflow.gif", (56, 36), (230, 40, 160)),
                             ("gif_no_palette.gif", (96, 64), (0, 0, 0))]:
        rgb = convert_to_rgb(open_like_transformers(os.path.join(IMAGES, name)), return_numpy=True)
        assert rgb.shape == (size[1], size[0], 3) and tuple(rgb[0, 0]) == fill, (name, rgb.shape, rgb[0, 0])

    # CMYK JPEGs. Pillow writes Adobe CMYK (APP14 transform 0, inverted samples); YCCK
    # (transform 2) comes from libjpeg through tools/ycck_jpeg.c; a 4-channel JPEG without
    # APP14 is read the same way by libjpeg and Pillow (always Adobe polarity).
    cmyk = rocket.crop((200, 150, 328, 246)).convert("CMYK")
    save(cmyk, "rocket_cmyk.jpg", quality=90)
    with open(os.path.join(IMAGES, "rocket_cmyk.jpg"), "rb") as f:
        adobe = f.read()
    with open(os.path.join(IMAGES, "rocket_cmyk_noadobe.jpg"), "wb") as f:
        f.write(without_app14(adobe))
    with open(os.path.join(IMAGES, "rocket_ycck.jpg"), "wb") as f:
        f.write(ycck_jpeg(cmyk, 90))
    for name, transform in [("rocket_cmyk.jpg", 0), ("rocket_cmyk_noadobe.jpg", None), ("rocket_ycck.jpg", 2)]:
        im = load(name)
        assert im.mode == "CMYK" and im.info.get("adobe_transform") == transform, (name, im.mode, im.info)

    # ICC profiles (Adobe RGB primaries): Pillow + transformers apply no colour management,
    # so the pixels are the file's numbers as if the profile were absent. Checked here.
    icc = adobe_rgb_profile()
    small = chelsea.resize((120, 80), Image.BICUBIC)
    save(small, "chelsea_adobergb.png", icc_profile=icc)
    save(small, "chelsea_adobergb.jpg", quality=90, icc_profile=icc)
    plain = io.BytesIO()
    small.save(plain, "JPEG", quality=90)
    for name, want in [("chelsea_adobergb.png", np.array(small)), ("chelsea_adobergb.jpg", np.array(Image.open(plain)))]:
        im = load(name)
        assert im.info["icc_profile"] == icc, name
        assert np.array_equal(np.array(open_like_transformers(os.path.join(IMAGES, name)).convert("RGB")), want), name

    # 1x1 pictures, opaque and half transparent.
    save(Image.new("RGB", (1, 1), (200, 100, 50)), "one_px_rgb.png")
    save(Image.new("RGBA", (1, 1), (200, 100, 50, 128)), "one_px_rgba.png")

    # Tiny and very elongated.
    save(Image.fromarray(rng.integers(0, 256, (3, 7, 3)).astype(np.uint8)), "tiny_7x3.png")
    save(hubble.crop((0, 400, 1000, 409)), "hubble_strip_1000x9.png")
    save(coffee.crop((300, 0, 305, 400)), "coffee_strip_5x400.png")


# name, image file, preprocessor config
CASES = [
    # The six real photos, B/32 settings.
    ("astronaut_b32", "astronaut.png", B32),
    ("chelsea_b32", "chelsea.png", B32),
    ("coffee_b32", "coffee.png", B32),
    ("rocket_b32", "rocket.jpg", B32),
    ("motorcycle_b32", "motorcycle_left.png", B32),
    ("hubble_b32", "hubble_deep_field.jpg", B32),
    # Odd settings.
    ("chelsea_42", "chelsea.png", new_style(42, 42, 42)),
    ("coffee_256_crop224x192", "coffee.png", new_style(256, 224, 192)),
    ("rocket_300_crop_tall", "rocket.jpg", new_style(300, 320, 180)),  # crop taller than image: pads
    ("astronaut_norm_off", "astronaut.png", new_style(64, 64, 64, do_normalize=False)),
    # Decode / convert paths, B/32 settings.
    ("camera_gray_b32", "camera.png", B32),
    ("chelsea_rgba_b32", "chelsea_rgba.png", B32),
    ("palette_trns_b32", "chelsea_palette_trns.png", B32),
    ("palette_alpha_b32", "rocket_palette_alpha.png", B32),
    ("camera_la_b32", "camera_la.png", B32),
    ("rgb16_b32", "coffee_rgb16.png", B32),
    ("gray16_b32", "camera_gray16.png", B32),
    ("gif_b32", "astronaut_anim.gif", B32),
    ("webp_lossless_b32", "motorcycle_lossless.webp", B32),
    ("bmp_b32", "rocket.bmp", B32),
    ("tiny_b32", "tiny_7x3.png", B32),
    ("tiny_pad", "tiny_7x3.png", new_style(5, 9, 11)),
    ("hubble_strip_b32", "hubble_strip_1000x9.png", B32),
    ("coffee_strip_b32", "coffee_strip_5x400.png", B32),
    ("jpeg_exif6_b32", "rocket_exif6.jpg", B32),
    ("webp_lossy_b32", "motorcycle_lossy.webp", B32),
    # Decode only (no resize, no crop): exact pixels after conversion to RGB.
    ("alpha_ramp_raw", "alpha_ramp.png", NO_RESIZE),
    ("palette_trns_raw", "chelsea_palette_trns.png", NO_RESIZE),
    ("rgb_trns_raw", "chelsea_rgb_trns.png", NO_RESIZE),
    ("bilevel_raw", "camera_1bit.png", NO_RESIZE),
    ("rgba16_raw", "coffee_rgba16.png", NO_RESIZE),
    ("gray16_trns_raw", "camera_gray16_trns.png", NO_RESIZE),
    ("la16_raw", "camera_la16.png", NO_RESIZE),
    ("webp_rgba_raw", "chelsea_rgba_lossless.webp", NO_RESIZE),
    ("jpeg_q90_raw", "rocket_crop_q90.jpg", NO_RESIZE),
    ("jpeg_444_raw", "rocket_crop_444.jpg", NO_RESIZE),
    ("jpeg_gray_raw", "camera_gray_q85.jpg", NO_RESIZE),
    ("jpeg_exif6_raw", "rocket_exif6.jpg", NO_RESIZE),
    ("jpeg_exif3_raw", "rocket_exif3.jpg", NO_RESIZE),
    ("jpeg_exif8_raw", "rocket_exif8.jpg", NO_RESIZE),
    ("gif_offset_raw", "gif_offset.gif", NO_RESIZE),
    ("gif_offset_local_raw", "gif_offset_local.gif", NO_RESIZE),
    ("gif_offset_trns_raw", "gif_offset_trns.gif", NO_RESIZE),
    ("gif_overflow_raw", "gif_overflow.gif", NO_RESIZE),
    ("gif_no_palette_raw", "gif_no_palette.gif", NO_RESIZE),
    ("gif_offset_b32", "gif_offset.gif", B32),
    ("jpeg_cmyk_raw", "rocket_cmyk.jpg", NO_RESIZE),
    ("jpeg_cmyk_noadobe_raw", "rocket_cmyk_noadobe.jpg", NO_RESIZE),
    ("jpeg_ycck_raw", "rocket_ycck.jpg", NO_RESIZE),
    ("jpeg_cmyk_b32", "rocket_cmyk.jpg", B32),
    ("jpeg_ycck_b32", "rocket_ycck.jpg", B32),
    ("icc_png_raw", "chelsea_adobergb.png", NO_RESIZE),
    ("icc_jpeg_raw", "chelsea_adobergb.jpg", NO_RESIZE),
    ("one_px_rgb_raw", "one_px_rgb.png", NO_RESIZE),
    ("one_px_rgba_raw", "one_px_rgba.png", NO_RESIZE),
    ("one_px_rgb_b32", "one_px_rgb.png", B32),
    ("one_px_rgba_b32", "one_px_rgba.png", B32),
    # SigLIP (SiglipImageProcessorPil): exact resize, no crop, mean/std 0.5.
    ("siglip_chelsea_224", "chelsea.png", siglip(224, 224, BICUBIC)),
    ("siglip_rocket_224", "rocket.jpg", siglip(224, 224, BICUBIC)),
    ("siglip_astronaut_224", "astronaut.png", siglip(224, 224, BICUBIC)),
    ("siglip_rgba_224", "rgba_transparency.png", siglip(224, 224, BICUBIC)),  # 61x37: upscaled
    ("siglip_rgba_48x32", "rgba_transparency.png", siglip(48, 32, BICUBIC)),  # up in y, down in x
    # Pillow 13 runs the vertical pass first when the height loses more than twice as many
    # pixels as the width; each pass rounds to uint8, so the order shows.
    ("siglip_rgba_24x96", "rgba_transparency.png", siglip(24, 96, BICUBIC)),  # vertical first
    ("siglip_chelsea_120x460", "chelsea.png", siglip(120, 460, BICUBIC)),  # vertical first
    # SigLIP 2 fixed resolution: bilinear.
    ("siglip2_chelsea_40", "chelsea.png", siglip(40, 40, BILINEAR, do_convert_rgb=None)),
    ("siglip2_rocket_40", "rocket.jpg", siglip(40, 40, BILINEAR, do_convert_rgb=None)),
    ("siglip2_astronaut_40", "astronaut.png", siglip(40, 40, BILINEAR, do_convert_rgb=None)),
    ("siglip2_rgba_40", "rgba_transparency.png", siglip(40, 40, BILINEAR)),
    ("siglip2_rgba_48x32", "rgba_transparency.png", siglip(48, 32, BILINEAR)),
    ("siglip2_chelsea_33x500", "chelsea.png", siglip(33, 500, BILINEAR, do_convert_rgb=None)),  # vertical first
    # CLIPImageProcessor with an exact {height, width} resize, then its center crop.
    ("clip_exact_64x96_crop40", "chelsea.png", new_style(None, 40, 40, size={"height": 64, "width": 96})),
    ("clip_bilinear_60", "astronaut.png", new_style(60, 56, 60, resample=BILINEAR)),
    ("clip_tall_strip_vertical_first", "coffee_strip_5x400.png", new_style(3, 64, 3)),  # 5x400 -> 3x240
]

PHOTOS = ["astronaut.png", "chelsea.png", "coffee.png", "rocket.jpg", "motorcycle_left.png",
          "hubble_deep_field.jpg", "camera.png"]


def open_like_transformers(path):
    # transformers' load_image minus its convert("RGB"): see the module docstring.
    return ImageOps.exif_transpose(Image.open(path))


PROCESSORS = {"SiglipImageProcessor": SiglipImageProcessorPil}


def run_case(name, image_file, cfg):
    img = open_like_transformers(os.path.join(IMAGES, image_file))
    processor = PROCESSORS.get(cfg.get("image_processor_type"), CLIPImageProcessorPil)
    proc = processor(**cfg)
    assert proc.backend == "pil" and proc.resample == cfg.get("resample", 3)
    want = proc(images=img, return_tensors="np")["pixel_values"][0]
    assert want.dtype == np.float32, want.dtype
    # The same pipeline stopped before rescale/normalise: the uint8 crop.
    crop = proc(images=open_like_transformers(os.path.join(IMAGES, image_file)), do_rescale=False,
                do_normalize=False, return_tensors="np")["pixel_values"][0]
    assert crop.dtype == np.uint8, crop.dtype
    assert crop.shape == want.shape and crop.shape[0] == 3
    # Re-derive pixel_values from the crop exactly as transformers does and check.
    x = crop.astype(np.float64)
    if proc.do_rescale:
        x = x * proc.rescale_factor
    x = x.astype(np.float32)
    if proc.do_normalize:
        mean = np.array(proc.image_mean, np.float32)[:, None, None]
        std = np.array(proc.image_std, np.float32)[:, None, None]
        x = (x - mean) / std
    err = float(np.abs(x - want).max())
    assert err <= 1e-6, (name, err)
    if processor is SiglipImageProcessorPil:
        # SigLIP is Pillow's resize of the RGB picture and nothing else: no crop, no rounding.
        assert not proc.do_center_crop
        rgb = Image.fromarray(convert_to_rgb(open_like_transformers(os.path.join(IMAGES, image_file)), return_numpy=True))
        size = (cfg["size"]["width"], cfg["size"]["height"])
        assert np.array_equal(np.array(rgb.resize(size, cfg["resample"])), crop.transpose(1, 2, 0)), name
    out = f"{name}.png"
    Image.fromarray(np.ascontiguousarray(crop.transpose(1, 2, 0))).save(os.path.join(EXPECTED, out), optimize=True)
    return {"name": name, "image": image_file, "processor": processor.__name__, "config": cfg,
            "expected": out, "shape": list(crop.shape), "renormalise_max_err": err}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--skimage-data", help="folder holding skimage's sample images (default: the installed skimage)")
    ap.add_argument("--cases-only", action="store_true",
                    help="keep tests/fixtures/images/ as committed; only recompute tests/fixtures/preprocess/")
    args = ap.parse_args()
    os.makedirs(EXPECTED, exist_ok=True)
    if not args.cases_only:
        src = args.skimage_data
        if src is None:
            import skimage.data

            src = os.path.dirname(skimage.data.__file__)
        os.makedirs(IMAGES, exist_ok=True)
        for f in PHOTOS:
            shutil.copyfile(os.path.join(src, f), os.path.join(IMAGES, f))
        make_derived(np.random.default_rng(20240607))
    cases = [run_case(*c) for c in CASES]
    manifest = {
        "generator": "tools/make_preprocess_fixtures.py",
        "reference": "transformers.CLIPImageProcessorPil, transformers.SiglipImageProcessorPil (per case: processor)",
        "versions": {"transformers": transformers.__version__, "Pillow": PIL.__version__, "numpy": np.__version__},
        "note": "expected/<case>.png = transformers' uint8 crop before rescale+normalise (CHW stored as HWC RGB)",
        "cases": cases,
    }
    with open(os.path.join(EXPECTED, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
        f.write("\n")
    total = sum(os.path.getsize(os.path.join(d, f)) for d in (IMAGES, EXPECTED) for f in os.listdir(d))
    print(f"{len(cases)} cases, fixtures total {total / 1e6:.2f} MB", file=sys.stderr)


if __name__ == "__main__":
    main()
