//! Decoding a small file cannot make a decoder allocate far more than the picture needs.
//!
//! `decode` hands every decoder a budget sized from the header (`image::Limits::max_alloc`,
//! the `gif` crate's memory limit): the pixels at 8 bytes each plus 64 MiB for metadata.
//! This binary counts every allocation (its own global allocator, hence its own file) and
//! checks the peak while decoding crafted files, natively and (`tools/test-browser.sh`) as
//! wasm in the browser, where a decoder running over its budget takes the worker down.

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

#[cfg(target_arch = "wasm32")]
wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);

/// A line of output: stdout natively, the browser's console (which the runner prints) in wasm.
macro_rules! report {
    ($($t:tt)*) => {{
        #[cfg(target_arch = "wasm32")]
        wasm_bindgen_test::console_log!($($t)*);
        #[cfg(not(target_arch = "wasm32"))]
        println!($($t)*);
    }};
}

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

/// A PNG of `chunks` (type, data) after the signature.
fn png(chunks: &[(&[u8], &[u8])]) -> Vec<u8> {
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    chunks.iter().for_each(|(kind, data)| out.extend(chunk(kind, data)));
    out
}

/// An IHDR: size, bit depth, colour type, no interlacing.
fn ihdr(w: u32, h: u32, depth: u8, color: u8) -> Vec<u8> {
    [&w.to_be_bytes()[..], &h.to_be_bytes(), &[depth, color, 0, 0, 0]].concat()
}

#[cfg_attr(not(target_arch = "wasm32"), test)]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn a_tiny_png_with_huge_compressed_metadata_never_inflates_it() {
    let _turn = serial();
    // 1x1 RGB, one white pixel, whose iCCP, zTXt and iTXt chunks each inflate to 400 MiB
    // (2.6 MB of file each). Under the `image` crate's default budget (512 MiB) the profile
    // alone was inflated whole, a measured peak of 796 MiB; under a 64 MiB budget the png
    // crate stopped there (103 MiB). Nothing reads them (Pillow + transformers do no colour
    // management, and text is not pixels), so they are skipped still compressed: measured
    // 0.1 MiB, the png crate's reader and one row.
    let bomb = zeros_zlib((400 << 20) / 258);
    let icc = [&b"p\0\0"[..], &bomb].concat();
    let ztxt = [&b"Comment\0\0"[..], &bomb].concat();
    let itxt = [&b"XML:com.adobe.xmp\0\x01\0\0\0"[..], &bomb].concat();
    let idat =
        [0x78, 0x01, 0x01, 0x04, 0x00, 0xfb, 0xff, 0x00, 0xff, 0xff, 0xff, 0x05, 0xfe, 0x02, 0xfe];
    let file = png(&[
        (b"IHDR", &ihdr(1, 1, 8, 2)),
        (b"iCCP", &icc),
        (b"zTXt", &ztxt),
        (b"iTXt", &itxt),
        (b"IDAT", &idat),
        (b"IEND", &[]),
    ]);
    let (img, peak) = peak_during(|| webclip::image::decode(&file, "icc.png"));
    let img = img.unwrap();
    assert_eq!((img.width, img.height, img.data), (1, 1, vec![255; 3]));
    report!("peak {:.2} MiB", peak as f64 / (1 << 20) as f64);
    assert!(peak < 4 << 20, "decoding a 1x1 PNG allocated {peak} bytes at once");
}

/// A `side` x `side` 16-bit RGB PNG of black (1 GB of samples for 13000: 6.4 MB of file),
/// with `extra` chunks before its pixels.
fn black_rgb16(side: u32, extra: &[(&[u8], &[u8])]) -> Vec<u8> {
    let raw = u64::from(side) * (1 + 6 * u64::from(side)); // a filter byte a row
    let idat = zeros_zlib(raw.div_ceil(258) as usize);
    let head = [(&b"IHDR"[..], &ihdr(side, side, 16, 2)[..])];
    let tail = [(&b"IDAT"[..], &idat[..]), (b"IEND", &[])];
    png(&[&head[..], extra, &tail].concat())
}

/// The budget the issue sets, 1.6 GB for the whole `webclip classify` process, is met with
/// room: decoding costs the RGB result (3 bytes a pixel) and a row, whatever the bit depth
/// and orientation (measured: 484.4 MiB, the result's 483.5 and 0.9 for rows). Before rows
/// went straight into the result, this test measured 1450.5 MiB for the unturned picture
/// (the 16-bit picture, then an RGB copy beside it; 1.82 GB of the CLI's resident memory)
/// and the CLI 2.65 GB turned by EXIF (a second turned copy).
#[cfg_attr(not(target_arch = "wasm32"), test)]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn a_huge_16_bit_png_costs_its_rgb_result_turned_or_not() {
    let _turn = serial();
    let side = 13_000u32;
    // A little-endian TIFF header, one IFD entry: Orientation (0x0112), SHORT, 1, 6.
    let exif = [&b"II*\0\x08\0\0\0\x01\0\x12\x01\x03\0\x01\0\0\0\x06\0\0\0"[..], &[0; 4]].concat();
    for (name, extra) in [("flat.png", vec![]), ("turned.png", vec![(&b"eXIf"[..], &exif[..])])] {
        let file = black_rgb16(side, &extra);
        let (img, peak) = peak_during(|| webclip::image::decode(&file, name));
        let img = img.unwrap();
        assert_eq!((img.width, img.height), (side, side), "{name}");
        assert!(img.data.iter().step_by(4099).all(|&v| v == 0), "{name}: not black");
        let result = 3 * side as usize * side as usize;
        report!(
            "{name}: peak {:.1} MiB, the result {:.1} MiB",
            peak as f64 / (1 << 20) as f64,
            result as f64 / (1 << 20) as f64,
        );
        assert!(peak <= result + (16 << 20), "{name}: peak {peak} bytes, result {result}");
    }
}

#[cfg_attr(not(target_arch = "wasm32"), test)]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
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
    report!("peak {:.1} bytes a pixel", peak as f64 / pixels as f64);
    // The decoder's RGB (3 bytes a pixel) and the RGB result (3), with 2 to spare.
    assert!(peak <= 8 * pixels, "peak {peak} bytes for {pixels} pixels");
}

/// A safetensors header just under the 100 MB limit, all of it empty tensors (1.65 million
/// names, each valid): loading it is answered within the issue's bounds of 20 s and 1.5 GB.
/// Parsed into safetensors' `Metadata` (a map, an index and a `String` per name) it took
/// 1265 MiB and 10.7 s here; its entries are now counted first, unparsed, and it is refused
/// for having more than `MAX_TENSORS`.
#[cfg(not(target_arch = "wasm32"))]
#[test]
fn a_99_mb_header_of_empty_tensors_is_answered_within_its_budget() {
    use webclip::model::{ModelFiles, Runtime};
    let _turn = serial();
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/tiny-clip");
    let mut files = ModelFiles::from_dir(std::path::Path::new(dir)).unwrap();
    let entry =
        |i: usize| format!(r#""t{i:07}":{{"dtype":"F32","shape":[0],"data_offsets":[0,0]}},"#);
    let count = 99_000_000 / entry(0).len();
    let mut json = String::with_capacity(99_000_016);
    json.push('{');
    (0..count).for_each(|i| json.push_str(&entry(i)));
    json.pop();
    json.push('}');
    json.extend(std::iter::repeat_n(' ', json.len().next_multiple_of(8) - json.len()));
    files.weights = [&(json.len() as u64).to_le_bytes()[..], json.as_bytes()].concat();
    drop(json);
    let start = std::time::Instant::now();
    let runtime = Runtime::cpu("a test of header limits");
    let (loaded, peak) = peak_during(|| pollster::block_on(runtime.load_files(&files, None)));
    let seconds = start.elapsed().as_secs_f64();
    let err = loaded.err().expect("a header of strangers loads").to_string();
    report!(
        "{count} tensors: peak {:.0} MiB, {seconds:.1} s: {err}",
        peak as f64 / (1 << 20) as f64
    );
    assert!(err.contains(&format!("lists {count} entries, more than the 20000")), "{err}");
    assert!(peak < 1_500_000_000, "peak {peak} bytes");
    // Not a timing: the issue's bound on work (a parse in a debug build took 10.7 s).
    assert!(seconds < 20.0, "{seconds:.1} s");
}
