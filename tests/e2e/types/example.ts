// Compiled by `tsc --noEmit` (tests/e2e/types.test.mjs): the published types
// (www/webclip.d.ts, www/widget.d.ts) against the way an author uses them.
// Each @ts-expect-error must be an error, so types that are too loose fail too.
import { ClipModel, SearchIndex, cachedModels, checkWebGPU, countGpuBuffers, forgetCachedModels, memoryUsage, type ModelFamily, type Score } from '../../../www/webclip.js';
import '../../../www/widget.js';

export async function classifyPicked(file: File): Promise<string> {
  const gpu = await checkWebGPU();
  if (!gpu.ok) console.log(`no WebGPU (${gpu.reason}): the CPU engine runs the model`);
  const controller = new AbortController();
  const model = await ClipModel.load('openai/clip-vit-base-patch32', {
    engine: gpu.ok ? 'auto' : 'cpu',
    weights: 'q8',
    signal: controller.signal,
    onProgress: ({ loaded, total, rate }) => console.log(loaded, total ?? 0, rate ?? 0),
  });
  const scores: Score[] = await model.classify(file, ['a robot', 'wall-e'], { template: 'a photo of {}' });
  const embedding: Float32Array = await model.embedImage(file);
  const again = await model.scoreEmbedding(embedding, ['a dog']);
  const texts: Float32Array[] = await model.embedText('a robot');
  const map = await model.heatmap(file, ['a robot', 'wall-e'], { resolution: model.maxHeatmapResolution, overlay: 256 });
  const cells: Float32Array = map.maps[0];
  console.log(map.rows * map.cols === cells.length, map.crop.width, map.descriptions[0], map.overlays?.[0].data.length);
  // @ts-expect-error: the resolution is a number of px
  await model.heatmap(file, ['a robot'], { resolution: '448' });
  console.log(model.origin.fromCache, model.weights, model.gpuBytes, again[0].cosine, texts.length);
  // SigLIP's scores are each label's own probability; it has no heatmaps.
  const independent: boolean = model.scoring === 'sigmoid';
  const family: ModelFamily = model.family;
  console.log(independent, family, model.maxHeatmapResolution > 0);
  // @ts-expect-error: no such scoring
  console.log(model.scoring === 'softmax-renormalised');
  // The adapter and kernels exist on WebGPU only.
  const where: string = model.engine.name === 'webgpu' ? `${model.adapter?.name} (${model.kernels})` : model.engine.description;
  // @ts-expect-error: the adapter may be undefined (the CPU engine)
  console.log(where, model.adapter.maxBindingBytes);
  for (const cached of await cachedModels()) await forgetCachedModels(cached.key);
  model.dispose();
  // @ts-expect-error: no such weight format
  await ClipModel.load('x/y', { weights: 'q3' });
  // @ts-expect-error: no such engine
  await ClipModel.load('x/y', { engine: 'gpu' });
  // @ts-expect-error: labels are strings
  await model.classify(file, [1, 2]);
  return `${scores[0].label}: ${scores[0].score.toFixed(2)}`;
}

// A test's census: on before the first load, read beside the engine's own count.
export async function census(): Promise<number> {
  countGpuBuffers();
  const usage = await memoryUsage();
  // @ts-expect-error: the census may be off
  const buffers: number = usage.census.buffers;
  return usage.gpuBytes + (usage.census?.bytes ?? 0) + buffers;
}

export function watch(): void {
  const widget = document.createElement('clip-classifier');
  widget.setAttribute('labels', 'a red circle; a blue square');
  widget.setAttribute('engine', 'auto');
  widget.addEventListener('clip-result', (event) => {
    const best: string = event.detail[0].label;
    const cosine: number = event.detail[0].cosine;
    console.log(best, cosine, widget.results?.length);
  });
  widget.addEventListener('clip-ready', (event) => console.log(event.detail.engine.name === 'cpu' ? event.detail.engine.description : event.detail.weights));
  widget.addEventListener('clip-error', (event) => console.error(event.detail.message));
  widget.addEventListener('clip-progress', (event) => console.log(event.detail.loaded));
  // @ts-expect-error: results are read-only
  widget.results = [];
  document.body.append(widget);
}

export async function searchFolder(model: ClipModel, files: File[], sha256: string): Promise<string[]> {
  const index = await SearchIndex.create(model, { model: { name: 'models/demo', sha256 }, root: 'Photos' });
  const { failed } = await index.add(files.map((f) => ({ path: f.webkitRelativePath, size: f.size, modified: f.lastModified, image: f })));
  console.log(failed.map((f) => `${f.path}: ${f.reason}`), index.size, index.info.duplicateThreshold);
  const hits = await index.search({ text: 'a red kite on the beach', top: 20, folder: 'holidays' });
  console.log(hits.timings.rankMs, hits[0]?.score);
  // @ts-expect-error: a path, not an index
  await index.search({ like: 0 });
  const groups: string[][] = await index.duplicates({ threshold: 0.97 });
  const again = await SearchIndex.open(model, await index.toBytes(), { expectSha256: sha256 });
  again.dispose();
  return [...hits.map((h) => h.path), ...groups.flat()];
}
