// Counts the GPU buffers this worker holds and their bytes, from WebGPU
// itself (wgpu's own counters do not run in the browser). Opt-in, for tests
// and benchmarks (`countGpuBuffers()` in www/webclip.js, before the first
// load): it patches WebGPU, so ordinary pages never run it. `memoryUsage()`
// reports it as `census`, beside the engine's own count; the endurance test
// checks that classifying in a loop leaves both flat. A buffer counts until
// it is destroyed or garbage collected.

const sizes = new WeakMap(); // live GPUBuffer -> bytes
const collected = new FinalizationRegistry((size) => forget(size));
export const census = { buffers: 0, bytes: 0 };

function forget(size) {
  census.buffers--;
  census.bytes -= size;
}

/** Starts counting: wraps `GPUDevice.createBuffer` and `GPUBuffer.destroy` (once per worker). */
export function countGpuBuffers() {
  if (typeof GPUDevice === 'undefined' || GPUDevice.prototype.createBuffer.counted) return;
  const create = GPUDevice.prototype.createBuffer;
  const destroy = GPUBuffer.prototype.destroy;
  GPUDevice.prototype.createBuffer = function createBuffer(descriptor) {
    const buffer = create.call(this, descriptor);
    census.buffers++;
    census.bytes += buffer.size;
    sizes.set(buffer, buffer.size);
    collected.register(buffer, buffer.size, buffer);
    return buffer;
  };
  GPUDevice.prototype.createBuffer.counted = true;
  GPUBuffer.prototype.destroy = function destroyBuffer() {
    if (sizes.has(this)) {
      forget(sizes.get(this));
      sizes.delete(this);
      collected.unregister(this);
    }
    return destroy.call(this);
  };
}
