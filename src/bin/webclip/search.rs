//! `webclip index`, `search` and `duplicates`: photo search over a folder, with
//! the index in one file (`docs/search-index.md`). `index` embeds the pictures
//! a batch at a time (never all held at once) and, run again, only what
//! changed; `search` reopens the model the index names, and refuses it if its
//! weights are not the ones the index was made with.

use std::io::Read;
use std::path::{Path, PathBuf};

use clap::Args;
use serde_json::json;
use sha2::{Digest, Sha256};
use webclip::image;
use webclip::model::ClipModel;
use webclip::search::{self, Entry, IndexInfo, Limits, ModelRef, SearchIndex};
use webclip::{Error, Result};

use crate::cli::{load_from, EngineArg, FamilyArg, FormatArg};

/// The template word queries go through unless `--template` says otherwise.
pub const DEFAULT_TEMPLATE: &str = "a photo of {}";

/// The model to embed with, and where it runs.
#[derive(Args)]
pub struct ModelChoice {
    /// Hugging Face CLIP directory or webclip model file; default: the one the index
    /// names (refused if its weights' SHA-256 differs from the index's)
    #[arg(long)]
    model: Option<PathBuf>,
    #[command(flatten)]
    engine: EngineArg,
    #[command(flatten)]
    family: FamilyArg,
    #[command(flatten)]
    format: FormatArg,
}

/// `webclip index`'s options.
#[derive(Args)]
pub struct IndexArgs {
    #[command(flatten)]
    model: ModelChoice,
    /// The folder of pictures (subfolders included)
    dir: PathBuf,
    /// The index file: written, or updated when it exists
    #[arg(short, long)]
    output: PathBuf,
    /// Template word queries are put in
    #[arg(long, default_value = DEFAULT_TEMPLATE)]
    template: String,
    /// Pictures decoded and embedded at once
    #[arg(long, default_value_t = 16)]
    batch: usize,
    #[arg(long)]
    json: bool,
}

/// `webclip search`'s options.
#[derive(Args)]
pub struct SearchArgs {
    #[command(flatten)]
    model: ModelChoice,
    #[arg(long)]
    index: PathBuf,
    /// What to look for, in words (put in the index's template)
    words: Option<String>,
    /// An example picture (with words too, both count equally)
    #[arg(long)]
    image: Option<PathBuf>,
    /// How many results
    #[arg(long, default_value_t = 10)]
    top: usize,
    /// Only pictures under this subfolder of the indexed folder
    #[arg(long, default_value = "")]
    folder: String,
    #[arg(long)]
    json: bool,
}

/// `webclip duplicates`' options.
#[derive(Args)]
pub struct DuplicateArgs {
    #[arg(long)]
    index: PathBuf,
    /// Cosine at or above which two pictures are near-duplicates
    #[arg(long, default_value_t = search::DEFAULT_THRESHOLD)]
    threshold: f32,
    #[arg(long)]
    json: bool,
}

/// SHA-256 of the weights file at `model` (a webclip model file, or a directory's model.safetensors).
fn weights_sha256(model: &Path) -> Result<String> {
    let file = if model.is_dir() { model.join("model.safetensors") } else { model.to_path_buf() };
    let mut reader = std::fs::File::open(&file).map_err(|e| Error::file(file.display(), e))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = reader.read(&mut buf).map_err(|e| Error::file(file.display(), e))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hasher.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

/// The model `choice` names, else the one `recorded` names, checked against its hash.
fn open_model(choice: &ModelChoice, recorded: Option<&ModelRef>) -> Result<(ClipModel, ModelRef)> {
    let path = match (&choice.model, recorded) {
        (Some(path), _) => path.clone(),
        (None, Some(r)) => PathBuf::from(&r.name),
        (None, None) => {
            return Err(Error::Input("no --model given (a new index needs one)".into()))
        }
    };
    let name = std::fs::canonicalize(&path).map_err(|e| match (&choice.model, recorded) {
        (None, Some(r)) => Error::Input(format!(
            "the index's model {} cannot be opened ({e}): pass --model with the same weights",
            r.name
        )),
        _ => Error::file(path.display(), e),
    })?;
    let model_ref = ModelRef { name: name.display().to_string(), sha256: weights_sha256(&name)? };
    if let Some(r) = recorded.filter(|r| r.sha256 != model_ref.sha256) {
        return Err(Error::Input(format!(
            "the index was made with {} (weights SHA-256 {}…) but {} has {}…: other weights \
             give embeddings that cannot be compared; index again with this model",
            r.name,
            &r.sha256[..12],
            model_ref.name,
            &model_ref.sha256[..12]
        )));
    }
    let model = load_from(&name, &choice.engine, &choice.family, &choice.format)?;
    Ok((model, model_ref))
}

fn read_index(path: &Path) -> Result<SearchIndex> {
    let bytes = std::fs::read(path).map_err(|e| Error::file(path.display(), e))?;
    SearchIndex::from_bytes(&bytes, &path.display().to_string(), Limits::default())
}

/// Writes next to `path`, then renames: an interrupted run leaves the old index whole.
fn write_index(index: &SearchIndex, path: &Path) -> Result<()> {
    let tmp = path.with_extension("partial");
    std::fs::write(&tmp, index.to_bytes()?).map_err(|e| Error::file(tmp.display(), e))?;
    std::fs::rename(&tmp, path).map_err(|e| Error::file(path.display(), e))
}

/// A file left out, and why.
type Skipped = (String, String);

/// Every file under `dir` (sorted; hidden files and symbolic links left out), as
/// paths relative to it; the names it could not take, with why.
fn list(dir: &Path, skip: &Path) -> Result<(Vec<Entry>, Vec<Skipped>)> {
    let mut files = Vec::new();
    let mut refused = Vec::new();
    let mut pending = vec![(dir.to_path_buf(), String::new())];
    while let Some((at, rel)) = pending.pop() {
        let read = std::fs::read_dir(&at).map_err(|e| Error::file(at.display(), e))?;
        for item in read {
            let item = item.map_err(|e| Error::file(at.display(), e))?;
            let Some(name) = item.file_name().to_str().map(str::to_string) else {
                refused.push((
                    format!("{rel}{}", item.file_name().to_string_lossy()),
                    "its name is not UTF-8".into(),
                ));
                continue;
            };
            let path = format!("{rel}{name}");
            let meta = match std::fs::symlink_metadata(item.path()) {
                Ok(meta) => meta,
                Err(e) => {
                    refused.push((path, e.to_string()));
                    continue;
                }
            };
            if name.starts_with('.') || meta.file_type().is_symlink() || item.path() == skip {
                continue;
            }
            if meta.is_dir() {
                pending.push((item.path(), format!("{path}/")));
            } else if let Err(e) = search::check_path(&path) {
                refused.push((path, e.to_string()));
            } else {
                let modified = meta
                    .modified()
                    .ok()
                    .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                    .map_or(0.0, |d| d.as_millis() as f64);
                files.push(Entry { path, size: meta.len(), modified });
            }
        }
    }
    files.sort_by(|a, b| a.path.cmp(&b.path));
    Ok((files, refused))
}

pub fn index(args: IndexArgs) -> Result<()> {
    let IndexArgs { model, dir, output, template, batch, json } = args;
    let existing = output.exists().then(|| read_index(&output)).transpose()?;
    let (model, model_ref) = open_model(&model, existing.as_ref().map(|ix| &ix.info.model))?;
    let root = std::fs::canonicalize(&dir).map_err(|e| Error::file(dir.display(), e))?;
    let skip = std::fs::canonicalize(&output).unwrap_or_default();
    let (listing, mut skipped) = list(&root, &skip)?;
    let mut index = match existing {
        Some(index) => index,
        None => {
            let root_name = root.file_name().map_or(String::new(), |n| n.to_string_lossy().into());
            let info = IndexInfo { model: model_ref, root: root_name, template };
            SearchIndex::new(info, model.config.projection_dim)?
        }
    };
    let update = index.update_for(&listing);
    index.remove(&update.dropped);
    let mut embedded = 0;
    for chunk in update.embed.chunks(batch.max(1)) {
        let mut pictures = Vec::new();
        let mut entries = Vec::new();
        for &i in chunk {
            let entry = &listing[i];
            let decoded = std::fs::read(root.join(&entry.path))
                .map_err(|e| Error::file(&entry.path, e))
                .and_then(|bytes| image::decode(&bytes, &entry.path));
            match decoded {
                Ok(picture) => {
                    pictures.push(picture);
                    entries.push(entry.clone());
                }
                Err(e) => {
                    // A picture that changed into something unreadable leaves the index.
                    index.remove(std::slice::from_ref(&entry.path));
                    skipped.push((entry.path.clone(), e.to_string().trim_end().to_string()));
                }
            }
        }
        if pictures.is_empty() {
            continue;
        }
        let features = pollster::block_on(model.embed_images(&pictures))?.raw();
        for (entry, feature) in entries.into_iter().zip(features) {
            index.insert(entry, &feature)?;
            embedded += 1;
        }
    }
    for (path, why) in &skipped {
        eprintln!("webclip: skipped {path}: {why}");
    }
    if index.is_empty() {
        return Err(Error::Input(format!("no picture in {} could be indexed", dir.display())));
    }
    write_index(&index, &output)?;
    let (kept, dropped) = (update.kept, update.dropped.len());
    if json {
        let skipped: Vec<_> =
            skipped.iter().map(|(path, why)| json!({ "path": path, "reason": why })).collect();
        println!(
            "{}",
            json!({ "pictures": index.len(), "embedded": embedded, "kept": kept,
                    "dropped": dropped, "skipped": skipped })
        );
    } else {
        println!(
            "{}: {} pictures ({embedded} embedded, {kept} kept, {dropped} dropped, {} skipped)",
            output.display(),
            index.len(),
            skipped.len()
        );
    }
    Ok(())
}

pub fn find(args: SearchArgs) -> Result<()> {
    let SearchArgs { model, index, words, image: example, top, folder, json } = args;
    if words.is_none() && example.is_none() {
        return Err(Error::Input("nothing to search for: give words, --image or both".into()));
    }
    let picture = example
        .as_ref()
        .map(|p| {
            let bytes = std::fs::read(p).map_err(|e| Error::file(p.display(), e))?;
            image::decode(&bytes, &p.display().to_string())
        })
        .transpose()?;
    let ix = read_index(&index)?;
    let (model, _) = open_model(&model, Some(&ix.info.model))?;
    let mut parts = Vec::new();
    if let Some(words) = &words {
        let prompt = ix.info.template.replace(webclip::model::scores::PLACEHOLDER, words);
        parts.extend(pollster::block_on(model.embed_texts(&[&prompt]))?.raw());
    }
    if let Some(picture) = picture {
        parts.extend(pollster::block_on(model.embed_images(&[picture]))?.raw());
    }
    let query = search::combine(&parts.iter().map(Vec::as_slice).collect::<Vec<_>>())?;
    let hits = ix.rank(&query, top, &folder)?;
    if json {
        let results: Vec<_> = hits
            .iter()
            .map(|h| json!({ "path": ix.entries()[h.index].path, "score": h.score }))
            .collect();
        println!("{}", json!({ "results": results }));
    } else {
        for h in hits {
            println!("{:.3}  {}", h.score, ix.entries()[h.index].path);
        }
    }
    Ok(())
}

pub fn duplicates(args: DuplicateArgs) -> Result<()> {
    let ix = read_index(&args.index)?;
    let groups: Vec<Vec<&str>> = ix
        .duplicates(args.threshold)?
        .into_iter()
        .map(|g| g.into_iter().map(|i| ix.entries()[i].path.as_str()).collect())
        .collect();
    if args.json {
        println!("{}", json!({ "groups": groups }));
    } else if groups.is_empty() {
        println!("no near-duplicates at cosine {}", args.threshold);
    } else {
        for group in groups {
            println!("{}", group.join("  "));
        }
    }
    Ok(())
}
