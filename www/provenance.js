// Where a converted webclip file says it came from, checked before a mirror's
// file stands in for a Hub model. `webclip convert --source <id>@<commit>`
// (tools/publish-models.sh) records it as the header's `webclip.source`: a
// mirror's file is used for a Hub id only when it names that id at the very
// commit the Hub resolved, so an out-of-date or mislabelled mirror never fills
// the cache under the current commit. (A mirror can still lie; that is why only
// the page's own configuration names one: app.js, never the address bar.)
//
// No wasm: reads the safetensors header (docs/model-file.md) with plain JS.

/** The engine's limit on a safetensors header (src/model/header.rs MAX_HEADER_BYTES). */
export const MAX_HEADER_BYTES = 100_000_000;

/** The `__metadata__` of the safetensors file `reader` reads (www/readers.js), `{}` when it has none. */
export async function fileMetadata(reader) {
  const prefix = await reader.read(0, 8);
  const length = Number(new DataView(prefix.buffer, prefix.byteOffset, 8).getBigUint64(0, true));
  if (length < 2 || length > MAX_HEADER_BYTES) {
    throw new Error(`${reader.name}: not a safetensors file (its header would be ${length} bytes; the limit is ${MAX_HEADER_BYTES})`);
  }
  let header;
  try {
    // Read from the file's start, as the engine then reads it: the reader keeps this block,
    // so a mirror's header (megabytes: the tokenizer is in it) is fetched once, not twice.
    const bytes = await reader.read(0, 8 + length);
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8)));
  } catch (e) {
    if (e instanceof SyntaxError || e instanceof TypeError) throw new Error(`${reader.name}: its safetensors header is not valid JSON (${e.message})`);
    throw e;
  }
  const metadata = header?.__metadata__;
  return metadata && typeof metadata === 'object' ? metadata : {};
}

/**
 * Why a file with `metadata` is not the conversion of `id` at `commit` in
 * `weights`, or undefined when it is.
 */
export function provenanceMismatch(metadata, { id, commit, weights }) {
  if (metadata.format !== 'webclip') return 'not a webclip model file';
  if (metadata['webclip.weights'] !== weights) return `its weights are ${metadata['webclip.weights']}, not ${weights}`;
  const source = metadata['webclip.source'];
  const wanted = `${id}@${commit}`;
  if (source !== wanted) {
    return `converted from ${source ? JSON.stringify(source) : 'an unnamed source'}, not from ${wanted} (the commit the Hub names now): an out-of-date or mislabelled copy`;
  }
  return undefined;
}
