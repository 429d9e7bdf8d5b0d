// rows_uniform.wgsl — matmul_registers.wgsl's row loader where X's loads are uniform: every
// invocation loads the four rows itself. lavapipe sees that the address is the same in every
// lane and loads once for all of them; any adapter without subgroups gets this one too.

struct Invocation {
    @builtin(global_invocation_id) global: vec3<u32>,
    @builtin(workgroup_id) group: vec3<u32>,
}

fn row_lane(ids: Invocation) -> u32 {
    return 0u;
}

// Where rows row .. row + 3 start (`x_row_start`).
alias RowStarts = vec4<u32>;

fn row_starts(row: u32, lane: u32) -> RowStarts {
    return vec4<u32>(x_row_start(row), x_row_start(row + 1u), x_row_start(row + 2u), x_row_start(row + 3u));
}

// X[row + j, 4k4 .. 4k4 + 3] as column j.
fn x_rows(starts: RowStarts, k4: u32, whole: bool) -> mat4x4<f32> {
    return mat4x4<f32>(x_unit(starts.x, k4, whole), x_unit(starts.y, k4, whole), x_unit(starts.z, k4, whole), x_unit(starts.w, k4, whole));
}
