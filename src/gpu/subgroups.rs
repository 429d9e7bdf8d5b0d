//! WebGPU's `subgroups` feature in the browser, which wgpu 30 cannot ask for:
//! its WebGPU backend maps only the features in its own table to
//! `requiredFeatures`, and `subgroups` is not among them (wgpu's
//! `Features::SUBGROUP` is native only). The registers matmul needs it on
//! SwiftShader (`shaders/common/rows_subgroup.wgsl`), so the next
//! `requestDevice` call, wgpu's own, is made to ask for it where the adapter
//! offers it. The hook is a module file (wasm-bindgen's `inline_js`), not
//! eval, so it runs under a strict Content-Security-Policy; it removes itself
//! on first use and leaves any other caller's devices alone.

use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

#[wasm_bindgen(inline_js = r#"
export function ask_with_next_device() {
  const proto = globalThis.GPUAdapter?.prototype;
  if (!proto) return;
  const original = proto.requestDevice;
  proto.requestDevice = function (descriptor = {}) {
    proto.requestDevice = original;
    const asked = [...(descriptor.requiredFeatures ?? [])];
    if (this.features.has('subgroups') && !asked.includes('subgroups')) asked.push('subgroups');
    return original.call(this, { ...descriptor, requiredFeatures: asked });
  };
}
"#)]
extern "C" {
    /// Makes the next `GPUAdapter.requestDevice` add `subgroups` to its
    /// required features when the adapter has them. wgpu calls it
    /// synchronously inside `Adapter::request_device`, right after this.
    pub fn ask_with_next_device();
}

/// Whether `device` was opened with `subgroups`.
pub fn enabled(device: &wgpu::Device) -> bool {
    let Some(web) = device.as_webgpu() else { return false };
    let Ok(features) = js_sys::Reflect::get(web.as_ref(), &JsValue::from_str("features")) else {
        return false;
    };
    features.unchecked_into::<js_sys::Set>().has(&JsValue::from_str("subgroups"))
}

#[cfg(test)]
mod tests {
    use wasm_bindgen::JsCast;
    use wasm_bindgen_futures::JsFuture;

    /// What the browser's own adapter offers, asked without wgpu.
    async fn adapter_has_subgroups() -> bool {
        let global = js_sys::global();
        let navigator = js_sys::Reflect::get(&global, &"navigator".into()).unwrap();
        let gpu = js_sys::Reflect::get(&navigator, &"gpu".into()).unwrap();
        let request: js_sys::Function =
            js_sys::Reflect::get(&gpu, &"requestAdapter".into()).unwrap().unchecked_into();
        let adapter =
            JsFuture::from(request.call0(&gpu).unwrap().unchecked_into::<js_sys::Promise>())
                .await
                .unwrap();
        let features = js_sys::Reflect::get(&adapter, &"features".into()).unwrap();
        features.unchecked_into::<js_sys::Set>().has(&"subgroups".into())
    }

    #[wasm_bindgen_test::wasm_bindgen_test]
    async fn the_device_has_subgroups_where_the_adapter_offers_them() {
        let offered = adapter_has_subgroups().await;
        let gpu = crate::gpu::testing::gpu().await;
        assert_eq!(
            gpu.subgroups, offered,
            "the adapter offers subgroups: {offered}; the device has them: {}",
            gpu.subgroups
        );
        // The hook removed itself: a device requested afterwards is as asked.
        let proto = js_sys::Reflect::get(&js_sys::global(), &"GPUAdapter".into()).unwrap();
        let proto = js_sys::Reflect::get(&proto, &"prototype".into()).unwrap();
        let request: js_sys::Function =
            js_sys::Reflect::get(&proto, &"requestDevice".into()).unwrap().unchecked_into();
        assert!(
            request.to_string().as_string().unwrap().contains("[native code]"),
            "requestDevice is still wrapped"
        );
    }
}
