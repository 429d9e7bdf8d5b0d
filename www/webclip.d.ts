// Types of webclip's JavaScript API (www/webclip.js).

export type KernelFamily = 'tiled' | 'registers';
export type EngineName = 'webgpu' | 'cpu';
export type WeightFormat = 'f32' | 'f16' | 'q8' | 'q4';
/** A model's family, from its config's `model_type`: OpenAI's CLIP and OpenCLIP, or Google's SigLIP and SigLIP 2. */
export type ModelFamily = 'clip' | 'siglip';
/** How zero-shot scores are made from cosines: a softmax over the labels (CLIP) or a sigmoid per label (SigLIP). */
export type Scoring = 'softmax' | 'sigmoid';

export interface LoadProgress {
  /** Bytes read so far of `file`. */
  loaded: number;
  /** The file's length, once known. */
  total?: number;
  /** Mean bytes per second since the download began. */
  rate?: number;
  file: string;
  /** Read from this browser's cache, not the network. */
  fromCache?: boolean;
}

export interface LoadOptions {
  onProgress?: (progress: LoadProgress) => void;
  /** Where the model runs: 'auto' (default: WebGPU on a hardware adapter, else the CPU), 'webgpu' or 'cpu'. */
  engine?: 'auto' | EngineName;
  /** Forces a WebGPU kernel family; by default the adapter's type decides. */
  kernels?: KernelFamily;
  /** How the matrices live on the GPU (a Hub id defaults to 'q8', a directory to 'f32'; a model file keeps its own). */
  weights?: WeightFormat;
  /** Cancels the load (once every caller sharing it has aborted). */
  signal?: AbortSignal;
  /** The Hub's address (default https://huggingface.co). */
  hub?: string;
  /** A base URL holding converted files as `<id>/model-<weights>.webclip`, tried before the Hub's own. */
  mirror?: string;
}

export interface ModelOrigin {
  kind: 'hub' | 'url' | 'files';
  fromCache: boolean;
  id?: string;
  revision?: string;
  commit?: string;
  file?: string;
  /** The Hub could not be reached; the newest cached copy served. */
  offline?: boolean;
  /** Size of the cached model file. */
  bytes?: number;
  /** Saved for the next visit: its size. */
  cachedBytes?: number;
  /** Why it was not saved. */
  cacheError?: string;
  /** A checkpoint quantized in the worker while loading. */
  quantizedHere?: boolean;
  /** What a Hub model's bytes are a copy of: the page's mirror's converted file, the repo's, or its checkpoint. */
  source?: { kind: 'mirror' | 'repo file' | 'checkpoint'; url: string };
  /** Why the page's mirror was not used (out of date, unreachable, failing); absent when it was, or had no such file. */
  mirrorSkipped?: string;
}

export interface Adapter {
  name: string;
  vendor?: string;
  architecture?: string;
  software: boolean;
  maxBindingBytes: number;
}

export interface Timings {
  loadMs: number;
  compileMs: number;
  imageMs: number;
  textMs: number;
  /** Prompts the last call had to encode (the rest came from the worker's cache). */
  encodedPrompts: number;
}

export interface Score {
  label: string;
  /**
   * Zero-shot probability, as the model's `scoring` makes it: with 'softmax' (CLIP)
   * the label's share among the labels given (the scores sum to 1); with 'sigmoid'
   * (SigLIP) the label's own probability, whatever the other labels are (the scores
   * need not sum to 1).
   */
  score: number;
  /** Cosine similarity of the label's prompt(s) and the image (every family). */
  cosine: number;
  /** The label is longer than the text the model reads (77 tokens for CLIP, 64 for SigLIP): only its beginning counted. */
  truncated: boolean;
}

/** Anything `classify` and `embedImage` read. */
export type ImageInput = Blob | File | HTMLImageElement | ImageBitmap | ImageData | HTMLCanvasElement | OffscreenCanvas;

export interface ScoreOptions {
  /** `'a photo of {}'`; several are averaged; none or '' uses the labels as they are. */
  template?: string | string[];
  /** After each pass over labels not encoded before (a thousand labels take several). */
  onProgress?: (progress: { stage: 'labels'; done: number; total: number }) => void;
}

export interface HeatmapOptions {
  /** As `classify`'s. */
  template?: string | string[];
  /** Side in px of the square the picture is resized and cropped to, rounded to the
   * patch size; default twice the model's input, at most `maxHeatmapResolution`. */
  resolution?: number;
  /** Also draw each label's map as RGBA of about this side (viridis), to lay over `crop`. */
  overlay?: number;
}

/** Where in the picture each label matches: one map per label over a grid of patches. */
export interface Heatmap {
  labels: string[];
  rows: number;
  cols: number;
  /** The side of the square the picture was resized and cropped to. */
  resolution: number;
  /** Per label, each cell's probability among the labels (row-major). */
  maps: Float32Array[];
  /** Per label, each cell's cosine with the label's text embedding. */
  cosines: Float32Array[];
  /** The part of the picture the grid covers, in the picture's pixels. */
  crop: { x: number; y: number; width: number; height: number };
  /** Each map in words ("strongest in the upper left, where 12% of the picture scores at least half as high"). */
  descriptions: string[];
  /** With `overlay`: each label's map as opaque RGBA. */
  overlays?: { width: number; height: number; data: Uint8ClampedArray }[];
}

export declare class ClipModel {
  /**
   * A Hugging Face Hub id (`openai/clip-vit-base-patch32`, optionally `@revision`),
   * a CLIP directory URL (ending in `/`), a webclip model file URL, or picked files.
   */
  static load(source: string | URL | File[] | FileList, options?: LoadOptions): Promise<ClipModel>;
  /** Where it runs and why ("CPU, 1 thread: this browser has no WebGPU"). */
  readonly engine: { name: EngineName; description: string };
  /** The WebGPU adapter; undefined on the CPU engine. */
  readonly adapter?: Adapter;
  /** The WebGPU kernel family; undefined on the CPU engine. */
  readonly kernels?: KernelFamily;
  readonly weights: WeightFormat;
  readonly gpuBytes: number;
  readonly wasmBytes: number;
  readonly origin: ModelOrigin;
  readonly projectionDim: number;
  readonly imageSize: number;
  /** The largest `resolution` `heatmap` takes, in px; 0 when the model has no heatmaps (SigLIP). */
  readonly maxHeatmapResolution: number;
  /** 'clip' or 'siglip' (the config's `model_type`). */
  readonly family: ModelFamily;
  /** What `Score.score` is: 'softmax' (CLIP: shares that sum to 1) or 'sigmoid' (SigLIP: each label's own probability). */
  readonly scoring: Scoring;
  readonly timings: Timings;
  /** Probabilities (as `scoring` says) and cosines, highest probability first. */
  classify(image: ImageInput, labels: string[], options?: ScoreOptions): Promise<Score[]>;
  /** Where each label matches in the picture (one vision pass for all labels); CLIP only (rejects where `maxHeatmapResolution` is 0). */
  heatmap(image: ImageInput, labels: string[], options?: HeatmapOptions): Promise<Heatmap>;
  /** `classify` for an image embedded earlier: only the labels are encoded (or come from the cache). */
  scoreEmbedding(embedding: Float32Array, labels: string[], options?: ScoreOptions): Promise<Score[]>;
  /** Projected image features, as transformers' `get_image_features`. */
  embedImage(image: ImageInput): Promise<Float32Array>;
  embedImages(images: Iterable<ImageInput>): Promise<Float32Array[]>;
  /** Projected text features, as `get_text_features`. */
  embedText(texts: string | string[]): Promise<Float32Array[]>;
  /** Frees the GPU memory once every user of this model has disposed of it. */
  dispose(): void;
}

/** Where an index's model came from and the SHA-256 of its file: an index is never used with other weights. */
export interface IndexModel {
  name: string;
  sha256: string;
}

export interface SearchIndexInfo {
  model: IndexModel;
  /** The folder's name when it was indexed. */
  root: string;
  /** What word queries are put in, `{}` for the words. */
  template: string;
  /** Values per embedding. */
  dim: number;
  /** Pictures it holds. */
  size: number;
  /** The default cosine for near-duplicates. */
  duplicateThreshold: number;
}

export interface IndexedFile {
  /** Relative to the folder, '/'-separated. */
  path: string;
  size: number;
  /** Milliseconds since the epoch (`File.lastModified`). */
  modified: number;
}

export interface SearchResult {
  path: string;
  /** Cosine with the query. */
  score: number;
}

/** A folder's pictures as CLIP embeddings, searched by words, an example or both (docs/search-index.md). */
export declare class SearchIndex {
  static create(model: ClipModel, options: { model: IndexModel; root?: string; template?: string }): Promise<SearchIndex>;
  /** An index file read back: checked; refused if made for another embedding length or (with `expectSha256`) other weights. */
  static open(model: ClipModel, bytes: Uint8Array | ArrayBuffer | Blob, options?: { name?: string; expectSha256?: string }): Promise<SearchIndex>;
  readonly info: SearchIndexInfo;
  readonly size: number;
  entries(): Promise<IndexedFile[]>;
  folders(): Promise<string[]>;
  add(files: (IndexedFile & { image: Blob })[]): Promise<{ added: string[]; failed: { path: string; reason: string }[] }>;
  /** What bringing it up to date with a folder's listing takes (other fields of the files are kept). */
  changes<F extends IndexedFile>(files: F[]): Promise<{ embed: F[]; kept: number; dropped: string[] }>;
  remove(paths: string[]): Promise<number>;
  search(query: { text?: string; image?: Blob; like?: string; top?: number; folder?: string }): Promise<SearchResult[] & { timings: { textMs?: number; imageMs?: number; rankMs: number } }>;
  duplicates(options?: { threshold?: number }): Promise<string[][]>;
  toBytes(): Promise<Uint8Array>;
  dispose(): void;
}

export type WebGPUCheck = { ok: true } | { ok: false; reason: 'insecure' | 'no-api' | 'no-adapter' };
export declare function checkWebGPU(): Promise<WebGPUCheck>;

export interface CachedModel {
  key: string;
  partial?: false;
  hub: string;
  id: string;
  revision: string;
  commit: string;
  weights: WeightFormat;
  bytes: number;
  savedAt: number;
}
/** A model file still being written (a load in this or another tab): it takes space too. */
export interface PartialCachedModel {
  key: string;
  partial: true;
  file: string;
  bytes: number;
  savedAt: number;
}
/** Models kept in this browser for the next visit, newest first, then files still being written. */
export declare function cachedModels(): Promise<(CachedModel | PartialCachedModel)[]>;
/** Frees one cached model (`key` from cachedModels; a partial file unless it is being written now), or all; resolves to what remains. */
export declare function forgetCachedModels(key?: string): Promise<(CachedModel | PartialCachedModel)[]>;

export interface KernelTiming {
  family: KernelFamily;
  kernel: string;
  weights: WeightFormat;
  shape: string;
  median_ms: number;
  gflops: number;
}
export declare function benchKernels(options?: { kernels?: KernelFamily; samples?: number; only?: string; weights?: WeightFormat }): Promise<{ kernels: KernelFamily; adapter: Adapter; timings: KernelTiming[] }>;

/** Whether a file name or URL path is a webclip model file's. */
/** The RGB pixels webclip reads from encoded bytes, and which decoder gave them. */
export declare function readPixels(image: Blob, options?: { decoder?: 'auto' | 'webclip' }): Promise<{ width: number; height: number; rgb: Uint8Array; decoder: 'browser' | 'webclip' }>;
/** What the worker holds; classifying in a loop keeps it flat. */
export interface MemoryUsage {
  /** Live GPU buffers and their bytes, as the engine counts those it holds (weights, activations, shape uniforms, readbacks in flight). */
  gpuBuffers: number;
  gpuBytes: number;
  /** WebGPU's own count of the worker's buffers, after countGpuBuffers(). */
  census?: { buffers: number; bytes: number };
  /** The worker's wasm memory (it only grows). */
  wasmBytes: number;
  models: number;
}
export declare function memoryUsage(): Promise<MemoryUsage>;
/** Turns on the WebGPU buffer census (tests, benchmarks); throws once webclip's worker has started. */
export declare function countGpuBuffers(): void;
/** Destroys the worker's GPU device as a driver reset would: the running call fails, the next one loads its model again. For tests. */
export declare function simulateDeviceLoss(): Promise<void>;
/** Traps in the worker's wasm as a crash would: the running call fails, a fresh worker takes over, each model loads again on its next call. For tests. */
export declare function simulateCrash(): Promise<void>;
/** A picture's size from its header, after the checks made before decoding (format, at most 178,956,970 pixels); throws naming what is wrong. Ask it before showing a reader's picture. */
export declare function checkImage(image: Blob): Promise<{ width: number; height: number }>;
export declare function isModelFileName(name: string): boolean;
