// attention_registers.wgsl — multi-head attention for CPU-backed adapters
// (`KernelFamily::Registers`): one invocation per (query, head, sequence), no workgroup memory,
// no barriers.
//
// Bindings (group 0), the same as attention_tiled.wgsl:
//   0  uniform Params { batch, seq, heads, head_dim, causal, scale }
//   1  QKV [batch · seq, 3 · heads · head_dim] (read, as vec4s: buffers are whole vec4s): each row is q | k | v, head h at
//          columns h · head_dim .. (h + 1) · head_dim of each third (Hugging Face's head split)
//   2  O   [batch · seq, heads · head_dim] (write): heads concatenated, ready for out_proj
// Dispatch: (ceil(seq / WG), heads, batch) workgroups of WG invocations; invocation
// (i, h, b) computes query row i of head h in sequence b. head_dim <= MAX_HEAD_DIM (checked at load).
//
// One pass over the keys with an online softmax (Milakov & Gimelshein 2018, as FlashAttention):
// the running maximum m and sum l rescale the output accumulated so far, so each key's score is
// computed once and no score array is kept. With `causal`, keys after the query are skipped,
// exactly what an additive mask of the lowest finite value gives (exp → 0). Invocations of one
// workgroup are consecutive queries of one head, which a software adapter runs in SIMD lanes:
// they read the same key and value rows (broadcast loads). Measured (`webclip bench-kernels`,
// ViT-B/32 vision, 12 heads of 64): lavapipe 1.9 ms, against 9.6 for attention_tiled.wgsl and
// 5.0 for this kernel reading scalars.

const MAX_HEAD_DIM: u32 = 256u;
const MAX_HEAD_DIM4: u32 = 64u;

struct Params { batch: u32, seq: u32, heads: u32, head_dim: u32, causal: u32, scale: f32, _pad0: u32, _pad1: u32 }

override WG: u32 = 16u;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> qkv: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

// The running maximum and sum of exp(score - maximum) over the keys so far; after each key,
// the factor that rescales what was accumulated and that key's weight.
struct OnlineSoftmax { max: f32, sum: f32, rescale: f32, weight: f32 }

fn online_softmax(state: OnlineSoftmax, score: f32) -> OnlineSoftmax {
    let new_max = max(state.max, score);
    let rescale = exp(state.max - new_max);
    let weight = exp(score - new_max);
    return OnlineSoftmax(new_max, fma(state.sum, rescale, weight), rescale, weight);
}

// Element `e` of QKV, row-major (the scalar path's read of the vec4 array).
fn qkv_at(e: u32) -> f32 {
    return qkv[e / 4u][e % 4u];
}

@compute @workgroup_size(WG, 1, 1)
fn main(@builtin(global_invocation_id) id: vec3<u32>) {
    let i = id.x;
    let h = id.y;
    let b = id.z;
    if (i >= p.seq) {
        return;
    }
    let width = p.heads * p.head_dim;
    let stride = 3u * width;
    let head = h * p.head_dim;
    let q_base = (b * p.seq + i) * stride + head;
    let o_base = (b * p.seq + i) * width + head;
    var keys = p.seq;
    if (p.causal != 0u) {
        keys = i + 1u;
    }
    // Lowest finite f32 as the starting maximum (Tint rejects -3.4028235e38 as out of range).
    var softmax = OnlineSoftmax(-0x1.fffffep+127f, 0.0, 1.0, 0.0);
    if (p.head_dim % 4u == 0u) {
        // Every row offset is a multiple of 4: whole vec4s of q, k, v and the output (CLIP's
        // heads are 64 wide), a quarter of the operations of the scalar path below.
        let dims = p.head_dim / 4u;
        var q: array<vec4<f32>, MAX_HEAD_DIM4>;
        var acc: array<vec4<f32>, MAX_HEAD_DIM4>;
        for (var d = 0u; d < dims; d = d + 1u) {
            q[d] = qkv[q_base / 4u + d];
        }
        for (var j = 0u; j < keys; j = j + 1u) {
            let k_base = ((b * p.seq + j) * stride + width + head) / 4u;
            var s = 0.0;
            for (var d = 0u; d < dims; d = d + 1u) {
                s += dot(q[d], qkv[k_base + d]);
            }
            softmax = online_softmax(softmax, s * p.scale);
            let v_base = k_base + width / 4u;
            for (var d = 0u; d < dims; d = d + 1u) {
                acc[d] = fma(acc[d], vec4<f32>(softmax.rescale), softmax.weight * qkv[v_base + d]);
            }
        }
        let inv_sum = 1.0 / softmax.sum;
        for (var d = 0u; d < dims; d = d + 1u) {
            let o = o_base + 4u * d;
            let v = acc[d] * inv_sum;
            out[o] = v.x;
            out[o + 1u] = v.y;
            out[o + 2u] = v.z;
            out[o + 3u] = v.w;
        }
        return;
    }
    // The query row in private memory, read once: the key and value rows below are the same for
    // every lane (uniform loads), the query is each lane's own.
    var q: array<f32, MAX_HEAD_DIM>;
    for (var d = 0u; d < p.head_dim; d = d + 1u) {
        q[d] = qkv_at(q_base + d);
    }
    var acc: array<f32, MAX_HEAD_DIM>;
    for (var j = 0u; j < keys; j = j + 1u) {
        let k_base = (b * p.seq + j) * stride + width + head;
        var s = 0.0;
        for (var d = 0u; d < p.head_dim; d = d + 1u) {
            s = fma(q[d], qkv_at(k_base + d), s);
        }
        softmax = online_softmax(softmax, s * p.scale);
        let v_base = k_base + width;
        for (var d = 0u; d < p.head_dim; d = d + 1u) {
            acc[d] = fma(acc[d], softmax.rescale, softmax.weight * qkv_at(v_base + d));
        }
    }
    let inv_sum = 1.0 / softmax.sum;
    for (var d = 0u; d < p.head_dim; d = d + 1u) {
        out[o_base + d] = acc[d] * inv_sum;
    }
}
