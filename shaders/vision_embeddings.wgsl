// vision_embeddings.wgsl — prepend the class embedding (CLIP; SigLIP has none) to the patch
// embeddings and add positions.
//
// Bindings (group 0):
//   0  uniform Params { batch, tokens, width, class_tokens }   tokens = grid² + class_tokens,
//      class_tokens 1 (CLIP) or 0 (SigLIP)
//   1  patch_embeds [batch · (tokens - class_tokens), width] (read; output of the patch matmul)
//   2  class_embedding [width] (read; not read when class_tokens is 0)
//   3  positions [tokens, width] (read)
//   4  out [batch · tokens, width] (write)
// Dispatch: one invocation per element of `out`, 256 per workgroup, folded into y past 65535
// workgroups; invocations past the end return.

struct Params { batch: u32, tokens: u32, width: u32, class_tokens: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> patch_embeds: array<f32>;
@group(0) @binding(2) var<storage, read> class_embedding: array<f32>;
@group(0) @binding(3) var<storage, read> positions: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(256, 1, 1)
fn main(@builtin(global_invocation_id) id: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let e = id.x + id.y * groups.x * 256u;
    if (e >= p.batch * p.tokens * p.width) {
        return;
    }
    let c = e % p.width;
    let t = (e / p.width) % p.tokens;
    let b = e / (p.width * p.tokens);
    let patches = p.tokens - p.class_tokens;
    var v: f32;
    if (t < p.class_tokens) {
        v = class_embedding[c];
    } else {
        v = patch_embeds[(b * patches + t - p.class_tokens) * p.width + c];
    }
    out[e] = v + positions[t * p.width + c];
}
