//! Decoding a small file cannot make a decoder allocate far more than the picture needs.
//!
//! `decode` hands every decoder a budget sized from the header (`image::Limits::max_alloc`,
//! the `gif` crate's memory limit): the pixels at 8 bytes each plus 64 MiB for metadata.
//! This binary counts every allocation (its own global allocator, hence its own file) and
//! checks the peak while decoding crafted files.
#![cfg(not(target_arch = "wasm32"))]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let live = LIVE.fetch_add(layout.size(), Relaxed) + layout.size();
        PEAK.fetch_max(live, Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

fn crc(bytes: &[u8]) -> u32 {
    let mut c = !0u32;
    for &b in bytes {
        c ^= u32::from(b);
        for _ in 0..8 {
            c = if c & 1 != 0 { 0xEDB8_8320 ^ (c >> 1) } else { c >> 1 };
        }
    }
    !c
}

fn chunk(kind: &[u8], data: &[u8]) -> Vec<u8> {
    let body = [kind, data].concat();
    [&(data.len() as u32).to_be_bytes()[..], &body, &crc(&body).to_be_bytes()].concat()
}

/// A zlib stream inflating to `1 + 258 * copies` zero bytes at 13 bits per 258 bytes: one
/// fixed-Huffman block holding a literal 0, then (length 258, distance 1) copies. No
/// adler32: decoders stop at their limit long before the end.
fn zeros_zlib(copies: usize) -> Vec<u8> {
    let mut out = vec![0x78, 0x01];
    let (mut acc, mut n) = (0u32, 0);
    // Huffman codes go most significant bit first, everything else least first.
    let mut put = |out: &mut Vec<u8>, code: u32, len: u32, huffman: bool| {
        acc |= if huffman { code.reverse_bits() >> (32 - len) } else { code } << n;
        n += len;
        while n >= 8 {
            out.push(acc as u8);
            (acc, n) = (acc >> 8, n - 8);
        }
    };
    put(&mut out, 0b011, 3, false); // last block, fixed codes
    put(&mut out, 0x30, 8, true); // literal 0
    for _ in 0..copies {
        put(&mut out, 0xc5, 8, true); // length 258 (symbol 285)
        put(&mut out, 0, 5, true); // distance 1
    }
    put(&mut out, 0, 7 + 7, true); // end of block, then zeros to the byte's end
    out
}

/// The counters are global, so the tests take turns: each holds this for its whole run.
fn serial() -> std::sync::MutexGuard<'static, ()> {
    static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());
    SERIAL.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Peak bytes allocated while `f` runs, above what was live before.
fn peak_during<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let before = LIVE.load(Relaxed);
    PEAK.store(before, Relaxed);
    let out = f();
    (out, PEAK.load(Relaxed) - before)
}

#[test]
fn a_tiny_png_with_a_huge_icc_profile_stays_within_the_metadata_budget() {
    let _turn = serial();
    // 1x1 RGB, one white pixel; its iCCP chunk inflates to 400 MiB (2.6 MB of file). Under
    // the `image` crate's default budget (512 MiB) all of it is inflated: a measured peak of
    // 796 MiB. Under ours the png crate stops at 64 MiB, drops the profile and decodes the
    // pixels (Pillow refuses any profile over 1 MB): measured 103 MiB, as a growing Vec
    // holds its old and new buffers while it copies (this allocator has no in-place realloc).
    let ihdr = [&1u32.to_be_bytes()[..], &1u32.to_be_bytes(), &[8, 2, 0, 0, 0]].concat();
    let icc = [&b"p\0\0"[..], &zeros_zlib((400 << 20) / 258)].concat();
    let idat =
        [0x78, 0x01, 0x01, 0x04, 0x00, 0xfb, 0xff, 0x00, 0xff, 0xff, 0xff, 0x05, 0xfe, 0x02, 0xfe];
    let png = [
        &b"\x89PNG\r\n\x1a\n"[..],
        &chunk(b"IHDR", &ihdr),
        &chunk(b"iCCP", &icc),
        &chunk(b"IDAT", &idat),
        &chunk(b"IEND", &[]),
    ]
    .concat();
    let (img, peak) = peak_during(|| webclip::image::decode(&png, "icc.png"));
    let img = img.unwrap();
    assert_eq!((img.width, img.height, img.data), (1, 1, vec![255; 3]));
    println!("peak {:.1} MiB", peak as f64 / (1 << 20) as f64);
    assert!(peak < 2 * (64 << 20), "decoding a 1x1 PNG allocated {peak} bytes at once");
}

#[test]
fn a_tiny_jpeg_claiming_a_large_picture_costs_its_pixels_and_the_rgb_result_at_most() {
    let _turn = serial();
    // 664 bytes: a 9x5 JPEG whose frame header claims 2000x2000; zune-jpeg decodes the
    // missing data as grey. Made for the image fuzz target, where such files claiming
    // 13377x13377 (just under MAX_PIXELS) peaked at 1.8 to 1.96 GB: to_rgb held an RGBA copy
    // beside the decoder's pixels and grew the RGB result by doubling.
    let jpeg = include_bytes!("fixtures/fuzz/jpeg-claiming-2000x2000.jpg");
    let (img, peak) = peak_during(|| webclip::image::decode(jpeg, "claim.jpg"));
    let img = img.unwrap();
    assert_eq!((img.width, img.height), (2000, 2000));
    let pixels = 2000 * 2000;
    println!("peak {:.1} bytes a pixel", peak as f64 / pixels as f64);
    // The decoder's RGB (3 bytes a pixel) and the RGB result (3), with 2 to spare.
    assert!(peak <= 8 * pixels, "peak {peak} bytes for {pixels} pixels");
}
