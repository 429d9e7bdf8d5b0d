// What the photo search page shows: result cards with thumbnails and scores,
// near-duplicate groups, skipped files, kept indexes, indexing progress and
// errors. Only DOM here; text from paths and files is always set as text.

import { forReaders } from './reader-errors.js';

const $ = (id) => document.getElementById(id);
const el = (tag, props = {}, ...children) => {
  const node = Object.assign(document.createElement(tag), props);
  node.append(...children);
  return node;
};

/** A picture's thumbnail: `thumbUrl(path)` resolves to a URL or undefined (a placeholder then). */
function thumb(path, thumbUrl) {
  const img = el('img', { alt: '', loading: 'lazy', decoding: 'async' });
  const frame = el('span', { className: 'thumb' }, img);
  thumbUrl(path).then((url) => {
    if (url) img.src = url;
    else frame.classList.add('none');
  });
  return frame;
}

/**
 * The results grid: one card per `{ path, score }`, its thumbnail opening the
 * picture (`open(path)`), its "More like this" button calling `like(path)`.
 */
export function showResults(results, { thumbUrl, open, like }) {
  const list = $('results');
  list.replaceChildren(
    ...results.map(({ path, score }) => {
      const view = el('button', { type: 'button', className: 'thumb-button', title: path }, thumb(path, thumbUrl));
      view.setAttribute('aria-label', `Open ${path}`);
      view.addEventListener('click', () => open(path));
      const more = el('button', { type: 'button', className: 'secondary more', textContent: 'More like this' });
      more.setAttribute('aria-label', `More like this: ${path}`);
      more.dataset.testid = 'more-like';
      more.addEventListener('click', () => like(path));
      const name = path.split('/').pop();
      const item = el('li', { className: 'card' }, view, el('span', { className: 'name', textContent: name, title: path }), el('span', { className: 'score', textContent: score.toFixed(3), title: 'cosine similarity' }), more);
      item.dataset.path = path;
      item.dataset.score = String(score);
      item.dataset.testid = 'result';
      return item;
    }),
  );
  list.dataset.state = results.length ? 'done' : 'none';
}

/** Near-duplicate groups, each a row of thumbnails side by side. */
export function showDuplicates(groups, { thumbUrl, open }) {
  $('dup-groups').replaceChildren(
    ...groups.map((paths) => {
      const row = el('ul', { className: 'thumb-grid dup-row' });
      row.append(
        ...paths.map((path) => {
          const view = el('button', { type: 'button', className: 'thumb-button', title: path }, thumb(path, thumbUrl));
          view.setAttribute('aria-label', `Open ${path}`);
          view.addEventListener('click', () => open(path));
          const item = el('li', { className: 'card' }, view, el('span', { className: 'name', textContent: path, title: path }));
          item.dataset.path = path;
          return item;
        }),
      );
      const group = el('li', { className: 'dup-group' }, el('p', { className: 'status', textContent: `${paths.length} pictures` }), row);
      group.dataset.testid = 'dup-group';
      return group;
    }),
  );
}

/** The files left out of the index, with why. */
export function showSkipped(skipped) {
  const box = $('skipped');
  box.hidden = !skipped.length;
  $('skipped-summary').textContent = `${skipped.length} ${skipped.length === 1 ? 'file' : 'files'} skipped`;
  $('skipped-list').replaceChildren(
    ...skipped.map(({ path, reason }) => {
      const item = el('li', {}, el('span', { className: 'path', textContent: path }), el('span', { className: 'reason', textContent: `: ${reason}` }));
      item.dataset.path = path;
      item.dataset.reason = reason;
      return item;
    }),
  );
}

/**
 * The indexes kept in this browser: each with Open (only for this model's:
 * `usable(entry)`) and Forget buttons; `current` is the one open now.
 */
export function showStored(stored, { usable, current, open, forget }) {
  $('stored-summary').textContent = stored.length ? `Indexes kept in this browser: ${stored.length}` : 'No indexes kept in this browser yet';
  $('stored-list').replaceChildren(
    ...stored.map((entry) => {
      const ok = usable(entry);
      const text = `${entry.root}: ${entry.size} ${entry.size === 1 ? 'picture' : 'pictures'}, ${new Date(entry.savedAt).toLocaleString()}${ok ? '' : ` (made with another model: ${entry.modelInfo.name ?? 'unknown'})`}`;
      const buttons = el('span', { className: 'buttons' });
      if (ok) {
        const openButton = el('button', { type: 'button', className: 'secondary', textContent: current === entry ? 'Open now' : 'Open', disabled: current === entry });
        openButton.setAttribute('aria-label', `Open the index of ${entry.root}`);
        openButton.addEventListener('click', () => open(entry));
        buttons.append(openButton);
      }
      const forgetButton = el('button', { type: 'button', className: 'secondary', textContent: 'Forget' });
      forgetButton.setAttribute('aria-label', `Forget the index of ${entry.root}`);
      forgetButton.addEventListener('click', () => forget(entry));
      buttons.append(forgetButton);
      const item = el('li', {}, el('span', { textContent: text }), buttons);
      item.dataset.root = entry.root;
      return item;
    }),
  );
}

/** The subfolders in the index, for the search's folder filter (every level of each path). */
export function showFolders(paths) {
  const folders = new Set();
  for (const path of paths) {
    const parts = path.split('/').slice(0, -1);
    for (let i = 1; i <= parts.length; i++) folders.add(parts.slice(0, i).join('/'));
  }
  const select = $('folder-filter');
  const chosen = select.value;
  select.replaceChildren(el('option', { value: '', textContent: 'every folder' }), ...[...folders].sort().map((f) => el('option', { value: f, textContent: f })));
  select.value = folders.has(chosen) ? chosen : '';
}

const seconds = (s) => (s < 90 ? `${Math.ceil(s)} s` : `${Math.round(s / 60)} min`);

/** Indexing progress: done / total, pictures per second, time left. */
export function showProgress({ done, total, rate, left, paused, pausing }) {
  $('indexing').hidden = false;
  $('index-progress').value = total ? done / total : 0;
  const parts = [`${done} of ${total} pictures`];
  if (rate > 0) parts.push(`${rate.toFixed(1)} per second`);
  if (paused) parts.push('paused');
  else if (pausing) parts.push('pausing after this batch…');
  else if (left !== undefined && done < total) parts.push(`about ${seconds(left)} left`);
  $('index-text').textContent = parts.join(' · ');
  $('index-pause').hidden = paused || pausing;
  $('index-resume').hidden = !(paused || pausing);
}

/**
 * A failure: one plain sentence, with the technical detail behind "Details"
 * and in the console. `sentence` stands in for reader-errors.js' wording
 * (the page's own messages, index files); `kind` tags it for tests.
 */
export function showFailure(e, { sentence, kind } = {}) {
  const found = forReaders(e);
  const detail = found.detail;
  console.warn(`webclip search: ${detail}`);
  renderError(sentence ?? found.reader, detail, kind ?? found.kind);
}

/** A message of the page's own, already in plain words. */
export function showError(message) {
  renderError(message, undefined, 'input');
}

function renderError(sentence, detail, kind) {
  const box = $('error');
  box.replaceChildren(el('p', { className: 'reader', textContent: sentence }));
  if (detail) box.append(el('details', {}, el('summary', { textContent: 'Details' }), el('code', { textContent: detail })));
  box.dataset.kind = kind;
  box.hidden = false;
}

export function clearError() {
  $('error').hidden = true;
  $('error').replaceChildren();
  delete $('error').dataset.kind;
}
