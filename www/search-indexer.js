// Indexing a folder in batches for the photo search page: a job that runs
// batches one after another with progress and can be paused, resumed or
// cancelled between batches (the embedding itself runs in webclip's worker;
// which pictures need it, SearchIndex#changes says).

export const BATCH = 8;

/**
 * Runs `work(batch)` (a Promise of `{ added: n, failed: n }`) over `items` in
 * batches of `size`, reporting `onProgress({ done, total, rate, left, paused, pausing })`
 * (rate: pictures per second; left: seconds, estimated) after each. A pause
 * asked for during a batch takes effect when it ends (`pausing` until then,
 * `paused` once no batch runs).
 */
export class IndexJob {
  #resume;
  constructor(items, work, { size = BATCH, onProgress = () => {} } = {}) {
    this.items = items;
    this.work = work;
    this.size = size;
    this.onProgress = onProgress;
    this.done = 0;
    this.paused = false; // asked for
    this.holding = false; // paused, and no batch running
    this.cancelled = false;
  }

  get total() {
    return this.items.length;
  }

  pause() {
    this.paused = true;
    this.#report();
  }

  resume() {
    this.paused = false;
    this.#resume?.();
    this.#report();
  }

  cancel() {
    this.cancelled = true;
    this.#resume?.();
  }

  /** `{ done, cancelled }` once every batch ran or the job was cancelled; a batch's own failure rejects. */
  async run() {
    let busyMs = 0; // time spent working, pauses left out, for the rate
    this.#report(0);
    for (let at = 0; at < this.items.length; at += this.size) {
      while (this.paused && !this.cancelled) {
        this.holding = true;
        this.#report(busyMs);
        await new Promise((resolve) => (this.#resume = resolve));
      }
      this.holding = false;
      if (this.cancelled) break;
      const started = performance.now();
      await this.work(this.items.slice(at, at + this.size));
      busyMs += performance.now() - started;
      this.done = Math.min(this.items.length, at + this.size);
      this.#report(busyMs);
    }
    return { done: this.done, cancelled: this.cancelled };
  }

  #report(busyMs = this.busyMs ?? 0) {
    this.busyMs = busyMs;
    const rate = busyMs > 0 ? this.done / (busyMs / 1000) : 0;
    const left = rate > 0 ? (this.total - this.done) / rate : undefined;
    this.onProgress({ done: this.done, total: this.total, rate, left, paused: this.paused && this.holding, pausing: this.paused && !this.holding });
  }
}
