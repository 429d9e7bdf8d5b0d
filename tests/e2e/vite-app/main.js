// An author's app: the package imported by name, as from npm.
import { ClipModel, checkWebGPU } from 'webclip';
import 'webclip/widget.js';

window.apiLoaded = typeof ClipModel.load === 'function' && typeof checkWebGPU === 'function';
document.getElementById('widget').addEventListener('clip-result', (e) => {
  window.result = e.detail;
});
document.getElementById('widget').addEventListener('clip-error', (e) => {
  window.failure = e.detail.message;
});
