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
mod cli {
    use std::path::{Path, PathBuf};

    use clap::{Args, Parser, Subcommand};
    use serde_json::json;
    use webclip::gpu::Gpu;
    use webclip::image::{self, PreprocessConfig, RgbImage};
    use webclip::model::files::open_path;
    use webclip::model::weights::TensorSource;
    use webclip::model::{ClipModel, ModelFiles, ModelSource};
    use webclip::ops::{KernelFamily, Kernels, WeightFormat};
    use webclip::{npy, Error, Result};

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
    struct Common {
        /// Hugging Face CLIP directory (config.json, model.safetensors, tokenizer.json,
        /// preprocessor_config.json) or a webclip model file (`webclip convert`)
        #[arg(long)]
        model: PathBuf,
        /// Print JSON instead of a table
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        family: FamilyArg,
        #[command(flatten)]
        format: FormatArg,
    }

    #[derive(Args)]
    struct FormatArg {
        /// How matrices live on the GPU: f32, f16, q8 (int8, a f16 scale per 32) or q4
        /// (4-bit, a f16 scale per 32); a Hugging Face checkpoint is converted while loading.
        /// Default: what a webclip model file stores, f32 for a checkpoint
        #[arg(long = "weights")]
        weights: Option<String>,
    }

    impl FormatArg {
        /// The format to load `source` in (`ModelSource::format`).
        fn get(&self, source: &ModelSource) -> Result<WeightFormat> {
            source.format(self.weights.as_deref().map(WeightFormat::parse).transpose()?)
        }
    }

    #[derive(Args)]
    struct FamilyArg {
        /// Kernel family: "tiled" (real GPUs) or "registers" (CPU-backed adapters such as
        /// lavapipe); default: by the adapter's type, or WEBCLIP_KERNELS
        #[arg(long)]
        family: Option<String>,
    }

    impl FamilyArg {
        fn get(&self) -> Result<Option<KernelFamily>> {
            self.family.as_deref().map(KernelFamily::parse).transpose()
        }
    }

    #[derive(Subcommand)]
    enum Command {
        /// Zero-shot probabilities of labels for an image
        Classify {
            #[command(flatten)]
            common: Common,
            image: PathBuf,
            /// A label (repeat for more)
            #[arg(long = "label")]
            labels: Vec<String>,
            /// Prompt template with {} for the label, e.g. "a photo of a {}" (repeat to average several)
            #[arg(long = "template")]
            templates: Vec<String>,
        },
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
        /// labels (medians over --runs, after one warm-up)
        Bench {
            #[command(flatten)]
            common: Common,
            #[arg(long, default_value_t = 5)]
            runs: usize,
        },
        /// GFLOP/s of each kernel family on ViT-B/32's shapes (no model needed)
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
        BenchKernels {
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
            Command::Classify { common, image, labels, templates } => {
                webclip::model::scores::check_inputs(&labels, &templates)?;
                let picture = read_image(&image)?;
                let model = load(&common)?;
                let scores = pollster::block_on(model.classify(&picture, &labels, &templates))?;
                for (label, _) in labels
                    .iter()
                    .zip(model.truncated_labels(&labels, &templates)?)
                    .filter(|(_, cut)| *cut)
                {
                    eprintln!("webclip: note: {} is longer than the 77 tokens CLIP reads: only its beginning counts", webclip::model::scores::quoted(label));
                }
                if common.json {
                    let probs: Vec<f64> = scores.iter().map(|s| s.probability).collect();
                    println!("{}", json!({ "labels": labels, "probs": probs }));
                } else {
                    let mut sorted = scores.clone();
                    sorted.sort_by(|a, b| b.probability.total_cmp(&a.probability));
                    let width = sorted.iter().map(|s| s.label.chars().count()).max().unwrap_or(0);
                    for s in sorted {
                        let bar = "#".repeat((s.probability * 40.0).round() as usize);
                        println!("{:<width$}  {:>6.2}%  {bar}", s.label, s.probability * 100.0);
                    }
                }
            }
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
                        pollster::block_on(model.embed_pixels(&array.to_f32(), false))?
                    }
                    None => {
                        let pictures = need(images, "image")?
                            .iter()
                            .map(|p| read_image(p))
                            .collect::<Result<Vec<_>>>()?;
                        pollster::block_on(model.embed_images(&pictures, false))?
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
                    &pollster::block_on(model.embed_texts(&refs, false))?,
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
            Command::Bench { common, runs } => bench(&common, runs.max(1))?,
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
            Command::BenchKernels { family, weights, samples, only, json } => {
                let formats =
                    weights.split(',').map(WeightFormat::parse).collect::<Result<Vec<_>>>()?;
                bench_kernels(family.get()?, &formats, samples.max(1), &only, json)?
            }
        }
        Ok(())
    }

    /// Median, min and max wall-clock milliseconds of `runs` runs of `f`, after one warm-up run.
    fn timed(runs: usize, mut f: impl FnMut() -> Result<()>) -> Result<serde_json::Value> {
        f()?;
        let mut times = Vec::with_capacity(runs);
        for _ in 0..runs {
            let start = std::time::Instant::now();
            f()?;
            times.push(start.elapsed().as_secs_f64() * 1e3);
        }
        let (median, min, max) = webclip::clock::spread(&mut times);
        Ok(json!({ "median_ms": median, "min_ms": min, "max_ms": max, "runs": runs }))
    }

    fn ms_since(start: std::time::Instant) -> f64 {
        start.elapsed().as_secs_f64() * 1e3
    }

    fn bench(common: &Common, runs: usize) -> Result<()> {
        let start = std::time::Instant::now();
        let (file, texts) = open_path(&common.model)?;
        let source = pollster::block_on(ModelSource::open(&file, texts))?;
        let read_ms = ms_since(start);
        let gpu = pollster::block_on(Gpu::new())?;
        let family = KernelFamily::choose(&gpu, common.family.get()?)?;
        let start = std::time::Instant::now();
        let kernels = pollster::block_on(Kernels::new(&gpu, family, common.format.get(&source)?))?;
        let compile_ms = ms_since(start);
        let start = std::time::Instant::now();
        let model = pollster::block_on(ClipModel::load_source(&gpu, &kernels, source))?;
        let load_ms = ms_since(start);
        let v = &model.config.vision;
        // Any fixed, non-trivial input: timing does not depend on pixel values.
        let one: Vec<f32> = (0..v.channels * v.image_size * v.image_size)
            .map(|i| ((i % 255) as f32 / 127.0) - 1.0)
            .collect();
        let start = std::time::Instant::now();
        pollster::block_on(model.embed_pixels(&one, false))?;
        let first_image_ms = ms_since(start);
        let eight = one.repeat(8);
        let image = timed(runs, || pollster::block_on(model.embed_pixels(&one, false)).map(drop))?;
        let batch8 = timed(runs.div_ceil(2), || {
            pollster::block_on(model.embed_pixels(&eight, false)).map(drop)
        })?;
        let labels =
            |n: usize| (0..n).map(|i| format!("a photo of a thing number {i}")).collect::<Vec<_>>();
        let (four, hundred) = (labels(4), labels(100));
        let text = |prompts: &[String]| {
            let refs: Vec<&str> = prompts.iter().map(String::as_str).collect();
            pollster::block_on(model.embed_texts(&refs, false)).map(drop)
        };
        let texts4 = timed(runs, || text(&four))?;
        let texts100 = timed(runs.div_ceil(2), || text(&hundred))?;
        let report = json!({
            "adapter": gpu.adapter.name, "backend": format!("{:?}", gpu.adapter.backend), "family": family.name(), "weights": kernels.format.name(),
            "read_files_ms": read_ms, "file_bytes": file.len(), "gpu_bytes": model.gpu_bytes, "compile_ms": compile_ms, "load_ms": load_ms, "first_image_ms": first_image_ms,
            "image": image, "image_batch8": batch8, "texts4": texts4, "texts100": texts100,
        });
        print_json(&report, common.json);
        Ok(())
    }

    fn bench_kernels(
        family: Option<KernelFamily>,
        formats: &[WeightFormat],
        samples: usize,
        only: &str,
        as_json: bool,
    ) -> Result<()> {
        let gpu = pollster::block_on(Gpu::new())?;
        let families = family.map_or(KernelFamily::ALL.to_vec(), |f| vec![f]);
        let mut timings = Vec::new();
        for family in families {
            for &format in formats {
                let kernels = pollster::block_on(Kernels::new(&gpu, family, format))?;
                timings.extend(pollster::block_on(webclip::ops::bench::run(
                    &gpu, &kernels, samples, only,
                ))?);
            }
        }
        if as_json {
            println!(
                "{}",
                json!({ "adapter": gpu.adapter.name, "backend": format!("{:?}", gpu.adapter.backend), "kernels": timings })
            );
        } else {
            println!("adapter: {} ({:?})", gpu.adapter.name, gpu.adapter.backend);
            for t in timings {
                println!(
                    "{:<10} {:<10} {:<4} {:<52} {:>9.3} ms  {:>7.2} GFLOP/s",
                    t.family, t.kernel, t.weights, t.shape, t.median_ms, t.gflops
                );
            }
        }
        Ok(())
    }

    fn print_json(value: &serde_json::Value, compact: bool) {
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
        let family = common.family.get()?;
        let (file, texts) = open_path(&common.model)?;
        let source = pollster::block_on(ModelSource::open(&file, texts))?;
        let format = common.format.get(&source)?;
        let gpu = pollster::block_on(Gpu::new())?;
        let kernels =
            pollster::block_on(Kernels::new(&gpu, KernelFamily::choose(&gpu, family)?, format))?;
        pollster::block_on(ClipModel::load_source(&gpu, &kernels, source))
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
