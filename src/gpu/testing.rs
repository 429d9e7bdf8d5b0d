//! Test support shared by every op: one device, deterministic data, and the
//! tolerance check `|got - want| <= atol + rtol * |want|` against f64 references.

use super::Gpu;

/// Evaluates `$init` (it may `.await`) once per test binary and yields clones
/// of its value. Natively tests run on many threads, so the value lives in a
/// process-wide static; on wasm32 wgpu handles are not `Send` and there is one
/// thread, so it lives in a thread-local.
macro_rules! once {
    ($ty:ty, $init:expr) => {{
        #[cfg(not(target_arch = "wasm32"))]
        {
            static CACHE: std::sync::Mutex<Option<$ty>> = std::sync::Mutex::new(None);
            let hit = CACHE.lock().unwrap().clone();
            match hit {
                Some(value) => value,
                None => {
                    let value: $ty = $init;
                    *CACHE.lock().unwrap() = Some(value.clone());
                    value
                }
            }
        }
        #[cfg(target_arch = "wasm32")]
        {
            std::thread_local!(static CACHE: std::cell::RefCell<Option<$ty>> = const { std::cell::RefCell::new(None) });
            match CACHE.with_borrow(Clone::clone) {
                Some(value) => value,
                None => {
                    let value: $ty = $init;
                    CACHE.set(Some(value.clone()));
                    value
                }
            }
        }
    }};
}
pub(crate) use once;

/// One device for the whole test binary (opening lavapipe takes a while).
#[cfg(not(target_arch = "wasm32"))]
pub fn gpu() -> Gpu {
    static GPU: std::sync::OnceLock<Gpu> = std::sync::OnceLock::new();
    GPU.get_or_init(|| {
        pollster::block_on(Gpu::new()).expect(
            "tests need a WebGPU/Vulkan adapter (lavapipe: apt-get install mesa-vulkan-drivers)",
        )
    })
    .clone()
}

/// The same on the web: awaited, never blocking (a page has one thread).
#[cfg(target_arch = "wasm32")]
pub async fn gpu() -> Gpu {
    once!(
        Gpu,
        Gpu::new().await.expect(
            "tests need WebGPU (Chromium: --enable-unsafe-webgpu, see tools/test-browser.sh)"
        )
    )
}

#[cfg(target_arch = "wasm32")]
wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);

/// Declares a GPU test as an async fn: natively a `#[test]` that blocks on it,
/// on wasm32 a `#[wasm_bindgen_test]` the browser awaits, on its WebGPU.
#[macro_export]
#[doc(hidden)]
macro_rules! gpu_test {
    ($(async fn $name:ident($gpu:ident: Gpu) $body:block)*) => {$(
        #[cfg(not(target_arch = "wasm32"))]
        #[test]
        fn $name() {
            let $gpu = $crate::gpu::testing::gpu();
            pollster::block_on(async move $body);
        }
        #[cfg(target_arch = "wasm32")]
        #[wasm_bindgen_test::wasm_bindgen_test]
        async fn $name() {
            let $gpu = $crate::gpu::testing::gpu().await;
            $body
        }
    )*};
}

pub use super::random::random;

/// An output buffer filled with NaN: any element a kernel fails to write fails
/// `assert_close` (wgpu zero-fills fresh buffers, which can pass for a result).
pub fn poisoned(gpu: &Gpu, label: &str, len: usize) -> crate::gpu::GpuBuffer {
    gpu.upload(label, &vec![f32::NAN; len])
}

/// Asserts every element is within `atol + rtol * |want|`; on failure names
/// the worst element and both values.
pub fn assert_close(what: &str, got: &[f32], want: &[f64], atol: f64, rtol: f64) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    // Worst element by how far it exceeds its own tolerance (NaN counts as worst).
    let mut worst = (0usize, f64::NEG_INFINITY);
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        let over = (g as f64 - w).abs() - (atol + rtol * w.abs());
        if over.is_nan() || over > worst.1 {
            worst = (i, if over.is_nan() { f64::INFINITY } else { over });
        }
    }
    let (i, over) = worst;
    assert!(got.is_empty() || over <= 0.0, "{what}: element {i} got {} want {} (|err| {:.3e}, tolerance {atol:.1e} + {rtol:.1e}*|want|)", got[i], want[i], (got[i] as f64 - want[i]).abs());
}
