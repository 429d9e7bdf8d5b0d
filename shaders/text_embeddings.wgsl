// text_embeddings.wgsl — token embedding gather plus position embeddings.
//
// Bindings (group 0):
//   0  uniform Params { rows, seq, width, first_id, id_count }   rows = batch · seq
//   1  ids [rows] u32 (read; validated < vocab on the CPU)
//   2  table: rows first_id .. first_id + id_count of the token table [vocab, width], as a
//          weight [id_count, width] in one of the formats of shaders/formats/ (read through the
//          included `weight_unit`). A table larger than one storage binding is split into such
//          chunks, one dispatch each.
//   3  positions [max_positions, width] (read)
//   4  out [rows, width] (write); each element is written by the one chunk that holds its id
// Dispatch: one invocation per element of `out`, 256 per workgroup, folded into y past 65535
// workgroups; invocations past the end, or whose id lies in another chunk, return.

struct Params { rows: u32, seq: u32, width: u32, first_id: u32, id_count: u32, _pad0: u32, _pad1: u32, _pad2: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> ids: array<u32>;
@group(0) @binding(2) var<storage, read> w: array<WeightWord>;
@group(0) @binding(3) var<storage, read> positions: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(256, 1, 1)
fn main(@builtin(global_invocation_id) id: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let e = id.x + id.y * groups.x * 256u;
    if (e >= p.rows * p.width) {
        return;
    }
    let row = e / p.width;
    let c = e % p.width;
    let token = ids[row];
    if (token < p.first_id || token >= p.first_id + p.id_count) {
        return;
    }
    let unit = weight_unit(c / 4u, token - p.first_id, p.id_count, p.width);
    out[e] = unit[c % 4u] + positions[(row % p.seq) * p.width + c];
}
