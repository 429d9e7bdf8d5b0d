// A drop target shared by the demo page, the widget and the search page:
// `over` marks it while something is dragged over it, and a drop hands the
// DataTransfer on (read during the event: the browser empties it after).

/** Calls `onDrop(dataTransfer)` for what is dropped on `element`. */
export function dropZone(element, onDrop) {
  element.addEventListener('dragover', (e) => {
    e.preventDefault();
    element.classList.add('over');
  });
  element.addEventListener('dragleave', () => element.classList.remove('over'));
  element.addEventListener('drop', (e) => {
    e.preventDefault();
    element.classList.remove('over');
    onDrop(e.dataTransfer);
  });
}
