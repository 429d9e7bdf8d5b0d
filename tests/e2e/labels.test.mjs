// www/labels.js: how the demo page and <clip-classifier> read typed labels
// (no browser needed). Every expectation is written out by hand.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseLabels } from '../../www/labels.js';

test('labels are separated by semicolons and new lines alike', () => {
  assert.deepEqual(parseLabels('a cat;a dog\na bird'), { labels: ['a cat', 'a dog', 'a bird'], repeated: [] });
  assert.deepEqual(parseLabels('a cat\r\na dog\ra bird'), { labels: ['a cat', 'a dog', 'a bird'], repeated: [] });
  // A comma or a full-width semicolon is part of a label.
  assert.deepEqual(parseLabels('a cat, a dog；a bird'), { labels: ['a cat, a dog；a bird'], repeated: [] });
});

test('each label is trimmed and blank ones are skipped', () => {
  assert.deepEqual(parseLabels('  a robot ;\twall-e\t\n\n ; ;\n  \na dog  '), { labels: ['a robot', 'wall-e', 'a dog'], repeated: [] });
  // Spaces inside a label stay.
  assert.deepEqual(parseLabels(' a  red   circle '), { labels: ['a  red   circle'], repeated: [] });
  assert.deepEqual(parseLabels(''), { labels: [], repeated: [] });
  assert.deepEqual(parseLabels(' ;\n ; \r\n'), { labels: [], repeated: [] });
});

test('a repeated label is kept once, where first typed, and named once', () => {
  assert.deepEqual(parseLabels('b\na\nb;c;a; b \nb'), { labels: ['b', 'a', 'c'], repeated: ['b', 'a'] });
  // Case matters: these are two labels.
  assert.deepEqual(parseLabels('A cat; a cat'), { labels: ['A cat', 'a cat'], repeated: [] });
});

test('labels in any script are kept as typed; Unicode spaces around them are trimmed', () => {
  // U+00A0 (no-break space) and U+3000 (ideographic space) are trimmed like spaces.
  assert.deepEqual(parseLabels('\u00a0un chat\u00a0;\u3000猫\u3000\n🐱 cat\n猫'), { labels: ['un chat', '猫', '🐱 cat'], repeated: ['猫'] });
  assert.deepEqual(parseLabels('café;Straße;кошка'), { labels: ['café', 'Straße', 'кошка'], repeated: [] });
});
