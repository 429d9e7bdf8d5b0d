enable subgroups;

// rows_subgroup.wgsl — matmul_registers.wgsl's row loader for SwiftShader, which pays for a
// load lane by lane even when every lane reads the same address: lane j of each four loads row
// row + j, and `subgroupBroadcast` hands the four rows to every lane (subgroups have at least 4
// invocations in WebGPU; lanes 4 and up repeat lanes 0-3). Every invocation must call `x_rows`
// (uniform control flow), which the kernel's k loop does.

struct Invocation {
    @builtin(global_invocation_id) global: vec3<u32>,
    @builtin(workgroup_id) group: vec3<u32>,
    @builtin(subgroup_invocation_id) lane: u32,
}

fn row_lane(ids: Invocation) -> u32 {
    return ids.lane % 4u;
}

// Where this lane's row of the four, row + lane, starts (`x_row_start`).
alias RowStarts = u32;

fn row_starts(row: u32, lane: u32) -> RowStarts {
    return x_row_start(row + lane);
}

// X[row + j, 4k4 .. 4k4 + 3] as column j.
fn x_rows(start: RowStarts, k4: u32, whole: bool) -> mat4x4<f32> {
    let mine = x_unit(start, k4, whole);
    return mat4x4<f32>(subgroupBroadcast(mine, 0u), subgroupBroadcast(mine, 1u), subgroupBroadcast(mine, 2u), subgroupBroadcast(mine, 3u));
}
