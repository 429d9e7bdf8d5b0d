// Types of the <clip-classifier> element (www/widget.js).

import type { EngineName, LoadProgress, ModelFamily, ModelOrigin, Score, Scoring, Timings, WeightFormat } from './webclip.js';

export interface ClipReadyDetail {
  weights: WeightFormat;
  origin: ModelOrigin;
  /** Where the model runs, and why: as `ClipModel.engine`. */
  engine: { name: EngineName; description: string };
  /** 'clip' or 'siglip': as `ClipModel.family`. */
  family: ModelFamily;
  /** What the results' scores are: as `ClipModel.scoring` ('sigmoid': each label's own probability). */
  scoring: Scoring;
}

export interface ClipErrorDetail {
  /** The engine's or loader's message, for the page's author (file, tensor, size, limit). */
  message: string;
  /** What kind of failure (www/reader-errors.js). */
  kind: 'cancelled' | 'missing' | 'network' | 'memory' | 'picture' | 'engine' | 'model' | 'other';
  /** The plain sentence the reader was shown. */
  reader: string;
}

export declare class ClipClassifier extends HTMLElement {
  /** The last results, highest probability first (`score` as the model's `scoring` makes it). */
  readonly results: Score[] | undefined;
  /** The engine's timings of the last scoring. */
  readonly timings: Timings | undefined;
}

export interface ClipClassifierEventMap extends HTMLElementEventMap {
  'clip-progress': CustomEvent<LoadProgress>;
  'clip-ready': CustomEvent<ClipReadyDetail>;
  'clip-result': CustomEvent<Score[]>;
  'clip-error': CustomEvent<ClipErrorDetail>;
}

export interface ClipClassifier {
  addEventListener<K extends keyof ClipClassifierEventMap>(type: K, listener: (this: ClipClassifier, event: ClipClassifierEventMap[K]) => unknown, options?: boolean | AddEventListenerOptions): void;
  addEventListener(type: string, listener: EventListenerOrEventListenerObject, options?: boolean | AddEventListenerOptions): void;
}

/** The element's attributes, all strings as in HTML. */
export interface ClipClassifierAttributes {
  /** A model file URL, a model directory URL or a Hub id; default: the bundled demo model. */
  model?: string;
  /** 'auto' (default: WebGPU on a hardware adapter, else the CPU), 'webgpu' or 'cpu'. */
  engine?: 'auto' | EngineName;
  /** Labels separated by `;` or new lines. */
  labels?: string;
  /** `'a photo of {}'`. */
  template?: string;
  /** An optional fixed picture; readers may still upload, drop or paste their own. */
  image?: string;
  /** How many bars to show (default 5). */
  top?: string;
  /** Present: readers may edit the labels. */
  editable?: '' | boolean;
  /** Present: selecting a result bar shows where in the picture that label matches (CLIP models; with SigLIP a sentence says it cannot). */
  heatmap?: '' | boolean;
}

declare global {
  interface HTMLElementTagNameMap {
    'clip-classifier': ClipClassifier;
  }
}
