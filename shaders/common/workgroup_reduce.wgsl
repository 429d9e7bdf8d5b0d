// workgroup_reduce.wgsl — shared helpers, prepended to kernels that reduce across a workgroup.
// The including kernel declares `const REDUCE_THREADS: u32` (its workgroup size, a power of two)
// and calls these from uniform control flow with every invocation of the workgroup taking part.

var<workgroup> reduce_scratch: array<f32, REDUCE_THREADS>;

fn workgroup_sum(value: f32, lane: u32) -> f32 {
    reduce_scratch[lane] = value;
    workgroupBarrier();
    for (var stride = REDUCE_THREADS / 2u; stride > 0u; stride = stride / 2u) {
        if (lane < stride) {
            reduce_scratch[lane] = reduce_scratch[lane] + reduce_scratch[lane + stride];
        }
        workgroupBarrier();
    }
    let total = reduce_scratch[0];
    workgroupBarrier(); // scratch is reused by the next call
    return total;
}

fn workgroup_max(value: f32, lane: u32) -> f32 {
    reduce_scratch[lane] = value;
    workgroupBarrier();
    for (var stride = REDUCE_THREADS / 2u; stride > 0u; stride = stride / 2u) {
        if (lane < stride) {
            reduce_scratch[lane] = max(reduce_scratch[lane], reduce_scratch[lane + stride]);
        }
        workgroupBarrier();
    }
    let total = reduce_scratch[0];
    workgroupBarrier();
    return total;
}
