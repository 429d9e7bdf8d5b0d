// attention_tiled.wgsl — multi-head scaled dot-product attention over a fused QKV buffer.
//
// Bindings (group 0):
//   0  uniform Params { batch, seq, heads, head_dim, causal, scale }
//   1  QKV [batch · seq, 3 · heads · head_dim] (read): each row is q | k | v, head h at
//          columns h · head_dim .. (h + 1) · head_dim of each third (Hugging Face's head split)
//   2  O   [batch · seq, heads · head_dim] (write): heads concatenated, ready for out_proj
// Dispatch: (seq, heads, batch) workgroups of 128 invocations; workgroup (i, h, b) computes
// query row i of head h in sequence b. Scores for all keys live in workgroup memory, so
// seq <= MAX_SEQ and head_dim <= MAX_HEAD_DIM (checked on the CPU at model load).
// softmax(q·kᵀ · scale) with the maximum subtracted; with `causal` set, keys after the query are
// skipped, which is exactly what an additive mask of the lowest finite value gives (exp → 0).

const REDUCE_THREADS: u32 = 128u;
const MAX_SEQ: u32 = 1024u;
const MAX_HEAD_DIM: u32 = 256u;

struct Params { batch: u32, seq: u32, heads: u32, head_dim: u32, causal: u32, scale: f32, _pad0: u32, _pad1: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> qkv: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

var<workgroup> query: array<f32, MAX_HEAD_DIM>;
var<workgroup> weights: array<f32, MAX_SEQ>;

@compute @workgroup_size(128, 1, 1)
fn main(@builtin(workgroup_id) group: vec3<u32>, @builtin(local_invocation_index) lane: u32) {
    let i = group.x;
    let h = group.y;
    let b = group.z;
    let width = p.heads * p.head_dim;
    let stride = 3u * width;
    let head = h * p.head_dim;

    let q_base = (b * p.seq + i) * stride + head;
    for (var d = lane; d < p.head_dim; d = d + REDUCE_THREADS) {
        query[d] = qkv[q_base + d];
    }
    workgroupBarrier();

    var keys = p.seq;
    if (p.causal != 0u) {
        keys = i + 1u;
    }
    var local_max = -0x1.fffffep+127f; // lowest finite f32, exactly (Tint rejects -3.4028235e38 as out of range)
    for (var j = lane; j < keys; j = j + REDUCE_THREADS) {
        let k_base = (b * p.seq + j) * stride + width + head;
        var s = 0.0;
        for (var d = 0u; d < p.head_dim; d = d + 1u) {
            s = fma(query[d], qkv[k_base + d], s);
        }
        s = s * p.scale;
        weights[j] = s;
        local_max = max(local_max, s);
    }
    let row_max = workgroup_max(local_max, lane);

    var local_sum = 0.0;
    for (var j = lane; j < keys; j = j + REDUCE_THREADS) {
        let e = exp(weights[j] - row_max);
        weights[j] = e;
        local_sum = local_sum + e;
    }
    let inv_sum = 1.0 / workgroup_sum(local_sum, lane); // its barriers also publish `weights`

    let o_base = (b * p.seq + i) * width + head;
    for (var d = lane; d < p.head_dim; d = d + REDUCE_THREADS) {
        var acc = 0.0;
        for (var j = 0u; j < keys; j = j + 1u) {
            acc = fma(weights[j], qkv[(b * p.seq + j) * stride + 2u * width + head + d], acc);
        }
        out[o_base + d] = acc * inv_sum;
    }
}
