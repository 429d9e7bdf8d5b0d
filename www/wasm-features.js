// What this browser's WebAssembly validates, probed once with a tiny module.

// A function () -> v128 whose body is three `i8x16.splat`s and one
// `f32x4.relaxed_madd` (opcode 0xfd 0x105): valid only where relaxed SIMD is
// (Chrome 114+; not in every Firefox or Safari).
const RELAXED_SIMD_PROBE = new Uint8Array([
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // magic, version
  0x01, 0x05, 0x01, 0x60, 0x00, 0x01, 0x7b, // types: () -> v128
  0x03, 0x02, 0x01, 0x00, // functions: one of type 0
  0x0a, 0x13, 0x01, 0x11, 0x00, // code: one body of 17 bytes, no locals
  0x41, 0x01, 0xfd, 0x0f, 0x41, 0x01, 0xfd, 0x0f, 0x41, 0x01, 0xfd, 0x0f, // 3 x (i32.const 1, i8x16.splat)
  0xfd, 0x85, 0x02, 0x0b, // f32x4.relaxed_madd, end
]);

let relaxed;

/** Whether relaxed SIMD validates here (the `pkg-relaxed` and `pkg-threads` builds need it). */
export function relaxedSimd() {
  relaxed ??= typeof WebAssembly === 'object' && WebAssembly.validate(RELAXED_SIMD_PROBE);
  return relaxed;
}
