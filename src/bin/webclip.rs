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
    use webclip::model::{ClipModel, ModelFiles};
    use webclip::{npy, Error, Result};

    #[derive(Parser)]
    #[command(name = "webclip", version, about = "OpenAI's CLIP on WebGPU (natively: Vulkan, Metal, DX12)")]
    struct Cli {
        #[command(subcommand)]
        command: Command,
    }

    #[derive(Args)]
    struct Common {
        /// Hugging Face CLIP directory (config.json, model.safetensors, tokenizer.json, preprocessor_config.json)
        #[arg(long)]
        model: PathBuf,
        /// Print JSON instead of a table
        #[arg(long)]
        json: bool,
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
        /// Time loading and forward passes (medians over --runs, after one warm-up)
        Bench {
            #[command(flatten)]
            common: Common,
            #[arg(long, default_value_t = 5)]
            runs: usize,
            /// Texts per text forward pass
            #[arg(long, default_value_t = 4)]
            texts: usize,
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
                let model = load(&common.model)?;
                let scores = pollster::block_on(model.classify(&picture, &labels, &templates))?;
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
                let model = load(&common.model)?;
                let features = match pixel_values {
                    Some(path) => {
                        let array = npy::parse(&read(&path)?, &path.display().to_string())?;
                        let v = &model.config.vision;
                        let want = [v.channels, v.image_size, v.image_size];
                        if array.shape.len() != 4 || array.shape[1..] != want {
                            return Err(Error::file(path.display(), format!("pixel values have shape {:?}, the model takes N x {:?}", array.shape, want)));
                        }
                        pollster::block_on(model.embed_pixels(&array.to_f32(), false))?
                    }
                    None => {
                        let pictures = need(images, "image")?.iter().map(|p| read_image(p)).collect::<Result<Vec<_>>>()?;
                        pollster::block_on(model.embed_images(&pictures, false))?
                    }
                };
                print_rows("embeddings", &features, common.json);
            }
            Command::EmbedText { common, texts } => {
                let texts = need(texts, "text")?;
                let model = load(&common.model)?;
                let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
                print_rows("embeddings", &pollster::block_on(model.embed_texts(&refs, false))?, common.json);
            }
            Command::Tokenize { common, texts } => {
                let texts = need(texts, "text")?;
                let path = common.model.join("tokenizer.json");
                let tokenizer = webclip::tokenizer::ClipTokenizer::from_bytes(&read(&path)?)?;
                let ids = tokenizer.encode_batch(&texts.iter().map(String::as_str).collect::<Vec<_>>())?;
                if common.json {
                    println!("{}", json!({ "ids": ids }));
                } else {
                    for (text, ids) in texts.iter().zip(&ids) {
                        println!("{text:?}: {ids:?}");
                    }
                }
            }
            Command::Preprocess { common, images } => {
                let path = common.model.join("preprocessor_config.json");
                let text = String::from_utf8(read(&path)?).map_err(|_| Error::file(path.display(), "is not UTF-8 text"))?;
                let config = PreprocessConfig::from_json(&text)?;
                let mut tensors = Vec::new();
                for p in need(images, "image")? {
                    let picture = read_image(&p)?;
                    let pixels = image::preprocess(&picture, &config);
                    let (w, h) = image::output_size(picture.width, picture.height, &config);
                    let planes: Vec<Vec<Vec<f32>>> = pixels.chunks(w as usize * h as usize).map(|plane| plane.chunks(w as usize).map(<[f32]>::to_vec).collect()).collect();
                    if !common.json {
                        println!("{}: pixel_values 3 x {h} x {w}", p.display());
                    }
                    tensors.push(planes);
                }
                if common.json {
                    println!("{}", json!({ "pixel_values": tensors }));
                }
            }
            Command::Bench { common, runs, texts } => bench(&common, runs.max(1), texts.max(1))?,
        }
        Ok(())
    }

    /// Wall-clock milliseconds of `f`'s median run, after one warm-up run.
    fn median_ms(runs: usize, mut f: impl FnMut() -> Result<()>) -> Result<f64> {
        f()?;
        let mut times = Vec::with_capacity(runs);
        for _ in 0..runs {
            let start = std::time::Instant::now();
            f()?;
            times.push(start.elapsed().as_secs_f64() * 1e3);
        }
        times.sort_by(f64::total_cmp);
        Ok(times[runs / 2])
    }

    fn bench(common: &Common, runs: usize, texts: usize) -> Result<()> {
        let start = std::time::Instant::now();
        let files = ModelFiles::from_dir(&common.model)?;
        let read_ms = start.elapsed().as_secs_f64() * 1e3;
        let gpu = pollster::block_on(Gpu::new())?;
        let start = std::time::Instant::now();
        let model = pollster::block_on(ClipModel::load(&gpu, &files))?;
        let load_ms = start.elapsed().as_secs_f64() * 1e3;
        let v = &model.config.vision;
        // Any fixed, non-trivial input: timing does not depend on pixel values.
        let pixels: Vec<f32> = (0..v.channels * v.image_size * v.image_size).map(|i| ((i % 255) as f32 / 127.0) - 1.0).collect();
        let image_ms = median_ms(runs, || pollster::block_on(model.embed_pixels(&pixels, false)).map(drop))?;
        let prompts: Vec<String> = (0..texts).map(|i| format!("a photo of a thing number {i}")).collect();
        let refs: Vec<&str> = prompts.iter().map(String::as_str).collect();
        let text_ms = median_ms(runs, || pollster::block_on(model.embed_texts(&refs, false)).map(drop))?;
        let report = json!({
            "adapter": gpu.adapter.name, "backend": format!("{:?}", gpu.adapter.backend), "runs": runs,
            "read_files_ms": read_ms, "load_ms": load_ms, "image_ms": image_ms, "texts": texts, "text_ms": text_ms,
        });
        if common.json {
            println!("{report}");
        } else {
            println!("{}", serde_json::to_string_pretty(&report).unwrap_or_default());
        }
        Ok(())
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

    fn load(dir: &Path) -> Result<ClipModel> {
        let files = ModelFiles::from_dir(dir)?;
        let gpu = pollster::block_on(Gpu::new())?;
        pollster::block_on(ClipModel::load(&gpu, &files))
    }

    fn print_rows(key: &str, rows: &[Vec<f32>], as_json: bool) {
        if as_json {
            println!("{}", json!({ key: rows }));
        } else {
            for row in rows {
                let shown: Vec<String> = row.iter().take(8).map(|v| format!("{v:+.5}")).collect();
                println!("[{}{}] ({} values)", shown.join(", "), if row.len() > 8 { ", ..." } else { "" }, row.len());
            }
        }
    }
}
