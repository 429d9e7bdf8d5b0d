//! `webclip`: CLIP from the command line, on the same engine as the browser.
//! JSON on stdout with `--json`, a table otherwise; one-line errors on stderr
//! and exit code 1 on bad input, 2 on bad usage.

#[cfg(target_arch = "wasm32")]
fn main() {}

#[cfg(not(target_arch = "wasm32"))]
fn main() {
    cli::main()
}

#[cfg(not(target_arch = "wasm32"))]
mod bench;
#[cfg(not(target_arch = "wasm32"))]
mod heatmap;
#[cfg(not(target_arch = "wasm32"))]
mod search;

#[cfg(not(target_arch = "wasm32"))]
mod cli {
    use std::path::{Path, PathBuf};

    use clap::{Args, Parser, Subcommand};
    use serde_json::json;
    use webclip::image::{self, PreprocessConfig, RgbImage};
    use webclip::model::files::open_path;
    use webclip::model::WeightFormat;
    use webclip::model::{ClipModel, EngineChoice, KernelFamily, ModelFiles, ModelSource, Runtime};
    use webclip::{npy, Error, Result};

    use super::{bench, heatmap, search};

    #[derive(Parser)]
    #[command(
        name = "webclip",
        version,
        about = "OpenAI's CLIP on WebGPU (natively: Vulkan, Metal, DX12)"
    )]
    struct Cli {
        #[command(subcommand)]
        command: Command,
    }

    #[derive(Args)]
    pub struct Common {
        /// Hugging Face CLIP directory (config.json, model.safetensors, tokenizer.json,
        /// preprocessor_config.json) or a webclip model file (`webclip convert`)
        #[arg(long)]
        pub model: PathBuf,
        /// Print JSON instead of a table
        #[arg(long)]
        pub json: bool,
        #[command(flatten)]
        pub engine: EngineArg,
        #[command(flatten)]
        pub family: FamilyArg,
        #[command(flatten)]
        pub format: FormatArg,
    }

    impl Common {
        /// The runtime these options ask for.
        pub fn runtime(&self) -> Result<Runtime> {
            pollster::block_on(Runtime::new(self.engine.get()?, self.family.get()?))
        }
    }

    #[derive(Args)]
    pub struct EngineArg {
        /// Where the model runs: "auto" (WebGPU on a hardware adapter, else the CPU),
        /// "webgpu" or "cpu"; default: WEBCLIP_ENGINE, else auto. Forcing --family
        /// asks auto for WebGPU
        #[arg(long)]
        engine: Option<String>,
    }

    impl EngineArg {
        pub fn get(&self) -> Result<EngineChoice> {
            match &self.engine {
                Some(name) => EngineChoice::parse(name),
                None => EngineChoice::from_env(),
            }
        }
    }

    #[derive(Args)]
    pub struct FormatArg {
        /// How matrices live on the GPU: f32, f16, q8 (int8, a f16 scale per 32) or q4
        /// (4-bit, a f16 scale per 32); a Hugging Face checkpoint is converted while loading.
        /// Default: what a webclip model file stores, f32 for a checkpoint
        #[arg(long = "weights")]
        weights: Option<String>,
    }

    impl FormatArg {
        /// The format to load `source` in (`ModelSource::format`).
        pub fn get(&self, source: &ModelSource) -> Result<WeightFormat> {
            source.format(self.weights.as_deref().map(WeightFormat::parse).transpose()?)
        }
    }

    #[derive(Args)]
    pub struct FamilyArg {
        /// Kernel family: "tiled" (real GPUs) or "registers" (CPU-backed adapters such as
        /// lavapipe); default: by the adapter's type, or WEBCLIP_KERNELS
        #[arg(long)]
        family: Option<String>,
    }

    impl FamilyArg {
        pub fn get(&self) -> Result<Option<KernelFamily>> {
            self.family.as_deref().map(KernelFamily::parse).transpose()
        }
    }

    /// An image and the labels asked of it.
    #[derive(Args)]
    pub struct Query {
        image: PathBuf,
        /// A label (repeat for more)
        #[arg(long = "label")]
        labels: Vec<String>,
        /// Prompt template with {} for the label, e.g. "a photo of a {}" (repeat to average several)
        #[arg(long = "template")]
        templates: Vec<String>,
    }

    #[derive(Subcommand)]
    enum Command {
        /// Zero-shot probabilities of labels for an image
        Classify {
            #[command(flatten)]
            common: Common,
            #[command(flatten)]
            query: Query,
        },
        /// Where in the image each label matches: a heatmap per label (ClearCLIP), as
        /// words, JSON (--json) or drawn over the picture (-o); with one label its map
        /// shows cosines, not probabilities
        Heatmap {
            #[command(flatten)]
            common: Common,
            #[command(flatten)]
            query: Query,
            /// Side in px of the square the picture is resized and cropped to, rounded to
            /// the patch size (default: twice the model's input)
            #[arg(long)]
            resolution: Option<usize>,
            /// Write the picture with the first label's map over it (PNG)
            #[arg(short, long)]
            output: Option<PathBuf>,
        },
        /// Indexes a folder's pictures for search (subfolders too; run again, it embeds
        /// only new or changed files and drops deleted ones)
        Index(search::IndexArgs),
        /// The indexed pictures nearest some words, an example picture, or both
        Search(search::SearchArgs),
        /// Groups of near-duplicate pictures in an index
        Duplicates(search::DuplicateArgs),
        /// Projected image features, as CLIPModel.get_image_features
        EmbedImage {
            #[command(flatten)]
            common: Common,
            images: Vec<PathBuf>,
            /// Read N x 3 x H x W float32 pixel values from a .npy file instead of images
            #[arg(long, conflicts_with = "images")]
            pixel_values: Option<PathBuf>,
        },
        /// Projected text features, as CLIPModel.get_text_features
        EmbedText {
            #[command(flatten)]
            common: Common,
            texts: Vec<String>,
        },
        /// Token ids, with start and end tokens, truncated to 77
        Tokenize {
            #[command(flatten)]
            common: Common,
            texts: Vec<String>,
        },
        /// The tensor the vision encoder sees (transformers' pixel_values)
        Preprocess {
            #[command(flatten)]
            common: Common,
            images: Vec<PathBuf>,
        },
        /// Time loading (per stage) and forward passes: one image, a batch of 8, 4 and 100
        /// labels, classifying with 4 labels and their heatmaps at the model's input size and
        /// at the heatmap default (medians over --runs, after one warm-up)
        Bench {
            #[command(flatten)]
            common: Common,
            #[arg(long, default_value_t = 5)]
            runs: usize,
        },
        /// Converts a Hugging Face CLIP directory to one webclip model file: matrices in
        /// the chosen format, config, tokenizer and preprocessor in its header
        Convert {
            /// Hugging Face CLIP directory (model.safetensors or sharded, fp32, fp16 or bf16)
            #[arg(long)]
            model: PathBuf,
            /// Weight format: q8, q4, f16 or f32
            #[arg(long, default_value = "q8")]
            quant: String,
            /// Output file
            #[arg(short, long)]
            output: PathBuf,
            /// Where the checkpoint came from, recorded in the file (default: the directory's name)
            #[arg(long)]
            source: Option<String>,
            #[arg(long)]
            json: bool,
        },
        /// GFLOP/s of each kernel family on ViT-B/32's shapes (no model needed): on WebGPU
        /// both families unless --family names one; with --engine cpu the CPU engine's kernels
        #[command(name = "bench-kernels")]
        KernelBench {
            #[command(flatten)]
            engine: EngineArg,
            #[command(flatten)]
            family: FamilyArg,
            /// Weight formats to time the matmul with, comma-separated (default: all)
            #[arg(long, default_value = "f32,f16,q8,q4")]
            weights: String,
            /// Timed runs per kernel and shape (the median is reported)
            #[arg(long, default_value_t = 7)]
            samples: usize,
            /// Only kernels whose name contains this ("matmul", "attention", "layernorm")
            #[arg(long, default_value = "")]
            only: String,
            #[arg(long)]
            json: bool,
        },
    }

    pub fn main() {
        if let Err(e) = run(Cli::parse()) {
            eprintln!("webclip: {e}");
            std::process::exit(1);
        }
    }

    fn run(cli: Cli) -> Result<()> {
        match cli.command {
            Command::Classify { common, query: Query { image, labels, templates } } => {
                webclip::model::scores::check_inputs(&labels, &templates)?;
                let picture = read_image(&image)?;
                let model = load(&common)?;
                let scores = pollster::block_on(model.classify(&picture, &labels, &templates))?;
                for (label, _) in labels
                    .iter()
                    .zip(model.truncated_labels(&labels, &templates)?)
                    .filter(|(_, cut)| *cut)
                {
                    eprintln!(
                        "webclip: note: {} is longer than the {} tokens the model reads: only its beginning counts",
                        webclip::model::scores::quoted(label),
                        model.config.text.max_positions
                    );
                }
                let independent = model.scoring.independent();
                if common.json {
                    let probs: Vec<f64> = scores.iter().map(|s| s.probability).collect();
                    let cosines: Vec<f64> = scores.iter().map(|s| s.cosine).collect();
                    let scoring = if independent { "sigmoid" } else { "softmax" };
                    println!(
                        "{}",
                        json!({ "labels": labels, "probs": probs, "cosines": cosines, "scoring": scoring })
                    );
                } else {
                    let mut sorted = scores.clone();
                    sorted.sort_by(|a, b| b.probability.total_cmp(&a.probability));
                    let width = sorted.iter().map(|s| s.label.chars().count()).max().unwrap_or(0);
                    for s in sorted {
                        let bar = "#".repeat((s.probability * 40.0).round() as usize);
                        let (label, p, c) = (&s.label, s.probability * 100.0, s.cosine);
                        println!("{label:<width$}  {p:>6.2}%  cos {c:>6.3}  {bar}");
                    }
                    if independent {
                        println!("(SigLIP: each label's probability stands on its own; they need not add up to 100%)");
                    }
                }
            }
            Command::Heatmap { common, query, resolution, output } => {
                let Query { image, labels, templates } = query;
                webclip::model::scores::check_inputs(&labels, &templates)?;
                let picture = read_image(&image)?;
                let model = load(&common)?;
                let map = model.heatmap(&picture, &labels, &templates, resolution);
                heatmap::report(
                    &pollster::block_on(map)?,
                    &picture,
                    output.as_deref(),
                    common.json,
                )?;
            }
            Command::Index(args) => search::index(args)?,
            Command::Search(args) => search::find(args)?,
            Command::Duplicates(args) => search::duplicates(args)?,
            Command::EmbedImage { common, images, pixel_values } => {
                let model = load(&common)?;
                let features = match pixel_values {
                    Some(path) => {
                        let array = npy::parse(&read(&path)?, &path.display().to_string())?;
                        let v = &model.config.vision;
                        let want = [v.channels, v.image_size, v.image_size];
                        if array.shape.len() != 4 || array.shape[1..] != want {
                            return Err(Error::file(
                                path.display(),
                                format!(
                                    "pixel values have shape {:?}, the model takes N x {:?}",
                                    array.shape, want
                                ),
                            ));
                        }
                        pollster::block_on(model.embed_pixels(&array.to_f32()))?.raw()
                    }
                    None => {
                        let pictures = need(images, "image")?
                            .iter()
                            .map(|p| read_image(p))
                            .collect::<Result<Vec<_>>>()?;
                        pollster::block_on(model.embed_images(&pictures))?.raw()
                    }
                };
                print_rows("embeddings", &features, common.json);
            }
            Command::EmbedText { common, texts } => {
                let texts = need(texts, "text")?;
                let model = load(&common)?;
                let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
                print_rows(
                    "embeddings",
                    &pollster::block_on(model.embed_texts(&refs))?.raw(),
                    common.json,
                );
            }
            Command::Tokenize { common, texts } => {
                let texts = need(texts, "text")?;
                let tokenizer = webclip::tokenizer::ClipTokenizer::from_bytes(
                    &ModelFiles::read_text_file(&common.model, "tokenizer.json")?,
                )?;
                let ids = tokenizer
                    .encode_batch(&texts.iter().map(String::as_str).collect::<Vec<_>>())?;
                if common.json {
                    println!("{}", json!({ "ids": ids }));
                } else {
                    for (text, ids) in texts.iter().zip(&ids) {
                        println!("{text:?}: {ids:?}");
                    }
                }
            }
            Command::Preprocess { common, images } => {
                let bytes = ModelFiles::read_text_file(&common.model, "preprocessor_config.json")?;
                let text = String::from_utf8(bytes).map_err(|_| {
                    Error::file(
                        common.model.join("preprocessor_config.json").display(),
                        "is not UTF-8 text",
                    )
                })?;
                let config = PreprocessConfig::from_json(&text)?;
                let mut tensors = Vec::new();
                for p in need(images, "image")? {
                    let picture = read_image(&p)?;
                    let pixels = image::preprocess(&picture, &config);
                    let (w, h) = image::output_size(picture.width, picture.height, &config);
                    let planes: Vec<Vec<Vec<f32>>> = pixels
                        .chunks(w as usize * h as usize)
                        .map(|plane| plane.chunks(w as usize).map(<[f32]>::to_vec).collect())
                        .collect();
                    if !common.json {
                        println!("{}: pixel_values 3 x {h} x {w}", p.display());
                    }
                    tensors.push(planes);
                }
                if common.json {
                    println!("{}", json!({ "pixel_values": tensors }));
                }
            }
            Command::Bench { common, runs } => bench::model(&common, runs.max(1))?,
            Command::Convert { model, quant, output, source, json } => {
                let format = WeightFormat::parse(&quant)?;
                let source = source.unwrap_or_else(|| {
                    model.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
                });
                let done = webclip::model::convert::convert(&model, format, &output, &source)?;
                if json {
                    println!("{}", json!(done));
                } else {
                    println!(
                        "{}: {} tensors, {} weights, {:.1} MB (from {:.1} MB)",
                        output.display(),
                        done.tensors,
                        done.weights,
                        done.output_bytes as f64 / 1e6,
                        done.input_bytes as f64 / 1e6
                    );
                }
            }
            Command::KernelBench { engine, family, weights, samples, only, json } => {
                let formats =
                    weights.split(',').map(WeightFormat::parse).collect::<Result<Vec<_>>>()?;
                bench::kernels(engine.get()?, family.get()?, &formats, samples.max(1), &only, json)?
            }
        }
        Ok(())
    }

    pub fn print_json(value: &serde_json::Value, compact: bool) {
        if compact {
            println!("{value}");
        } else {
            println!("{}", serde_json::to_string_pretty(value).unwrap_or_default());
        }
    }

    fn need<T>(items: Vec<T>, what: &str) -> Result<Vec<T>> {
        if items.is_empty() {
            return Err(Error::Input(format!("no {what} given")));
        }
        Ok(items)
    }

    fn read(path: &Path) -> Result<Vec<u8>> {
        std::fs::read(path).map_err(|e| Error::file(path.display(), e))
    }

    fn read_image(path: &Path) -> Result<RgbImage> {
        image::decode(&read(path)?, &path.display().to_string())
    }

    /// Streams the model from disk: the header is checked first, then each tensor is read and uploaded.
    fn load(common: &Common) -> Result<ClipModel> {
        load_from(&common.model, &common.engine, &common.family, &common.format)
    }

    /// [`load`] with its options one by one.
    pub fn load_from(
        model: &Path,
        engine: &EngineArg,
        family: &FamilyArg,
        format: &FormatArg,
    ) -> Result<ClipModel> {
        let (file, texts) = open_path(model)?;
        let source = pollster::block_on(ModelSource::open(&file, texts))?;
        let format = format.get(&source)?;
        let runtime = pollster::block_on(Runtime::new(engine.get()?, family.get()?))?;
        pollster::block_on(runtime.load(source, Some(format)))
    }

    fn print_rows(key: &str, rows: &[Vec<f32>], as_json: bool) {
        if as_json {
            println!("{}", json!({ key: rows }));
        } else {
            for row in rows {
                let shown: Vec<String> = row.iter().take(8).map(|v| format!("{v:+.5}")).collect();
                println!(
                    "[{}{}] ({} values)",
                    shown.join(", "),
                    if row.len() > 8 { ", ..." } else { "" },
                    row.len()
                );
            }
        }
    }
}
