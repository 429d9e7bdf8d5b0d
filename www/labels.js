// Labels as readers type them, on the demo page and in <clip-classifier>
// alike: separated by `;` or new lines, each trimmed, blank ones skipped, a
// repeated label kept once (and named, so the page can say so).

/**
 * `{ labels, repeated }` of `text`: the labels in the order first typed, and
 * those typed more than once (each once, in the order of their first repeat).
 * @param {string} text
 * @returns {{ labels: string[], repeated: string[] }}
 */
export function parseLabels(text) {
  const labels = [];
  const repeated = [];
  const seen = new Set();
  for (const part of text.split(/[;\r\n]/)) {
    const label = part.trim();
    if (!label) continue;
    if (!seen.has(label)) {
      seen.add(label);
      labels.push(label);
    } else if (!repeated.includes(label)) {
      repeated.push(label);
    }
  }
  return { labels, repeated };
}
