// The worker imports modules (the wasm glue, the Hub and cache helpers): it is
// bundled as an ES module worker.
export default { worker: { format: 'es' }, logLevel: 'warn' };
