//! `webclip bench` (a model's load stages and forward passes) and `webclip
//! bench-kernels` (each kernel on ViT-B/32's shapes): medians of timed runs.

use serde_json::json;
use webclip::model::files::open_path;
use webclip::model::weights::TensorSource;
use webclip::model::{EngineChoice, KernelFamily, ModelSource, Runtime, WeightFormat};
use webclip::Result;

use crate::cli::{print_json, Common};

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

/// `webclip bench`: one model's load stages, then warm forward passes.
pub fn model(common: &Common, runs: usize) -> Result<()> {
    let start = std::time::Instant::now();
    let (file, texts) = open_path(&common.model)?;
    let source = pollster::block_on(ModelSource::open(&file, texts))?;
    let read_ms = ms_since(start);
    let runtime = common.runtime()?;
    let format = common.format.get(&source)?;
    let compile_ms = pollster::block_on(runtime.prepare(format))?;
    let start = std::time::Instant::now();
    let model = pollster::block_on(runtime.load(source, Some(format)))?;
    let load_ms = ms_since(start);
    let v = &model.config.vision;
    // Any fixed, non-trivial input: timing does not depend on pixel values.
    let one: Vec<f32> = (0..v.channels * v.image_size * v.image_size)
        .map(|i| ((i % 255) as f32 / 127.0) - 1.0)
        .collect();
    let start = std::time::Instant::now();
    pollster::block_on(model.embed_pixels(&one))?;
    let first_image_ms = ms_since(start);
    let eight = one.repeat(8);
    let image = timed(runs, || pollster::block_on(model.embed_pixels(&one)).map(drop))?;
    let batch8 =
        timed(runs.div_ceil(2), || pollster::block_on(model.embed_pixels(&eight)).map(drop))?;
    let labels =
        |n: usize| (0..n).map(|i| format!("a photo of a thing number {i}")).collect::<Vec<_>>();
    let (four, hundred) = (labels(4), labels(100));
    let text = |prompts: &[String]| {
        let refs: Vec<&str> = prompts.iter().map(String::as_str).collect();
        pollster::block_on(model.embed_texts(&refs)).map(drop)
    };
    let texts4 = timed(runs, || text(&four))?;
    let texts100 = timed(runs.div_ceil(2), || text(&hundred))?;
    // Heatmaps against classification, both with the same 4 labels embedded each time:
    // at the model's own input size, and at the heatmap's default (twice it).
    let side = v.image_size as u32;
    let data = (0..side * side * 3).map(|i| (i * 7 % 251) as u8).collect();
    let picture = webclip::image::RgbImage { width: side, height: side, data };
    let classify4 =
        timed(runs, || pollster::block_on(model.classify(&picture, &four, &[])).map(drop))?;
    let heatmap = |px: Option<usize>| pollster::block_on(model.heatmap(&picture, &four, &[], px));
    let heatmap4_same = timed(runs, || heatmap(Some(v.image_size)).map(drop))?;
    let default_px = model.heatmap_resolution(None)?;
    let heatmap4_default = timed(runs, || heatmap(None).map(drop))?;
    let adapter = runtime.adapter();
    let report = json!({
        "engine": runtime.engine().name(), "description": runtime.description(),
        "adapter": adapter.as_ref().map(|a| &a.name), "backend": adapter.as_ref().map(|a| &a.backend),
        "family": runtime.family().map(|f| f.name()), "weights": model.weights.name(),
        "read_files_ms": read_ms, "file_bytes": file.len(), "gpu_bytes": model.gpu_bytes, "compile_ms": compile_ms, "load_ms": load_ms, "first_image_ms": first_image_ms,
        "image": image, "image_batch8": batch8, "texts4": texts4, "texts100": texts100,
        "classify4": classify4, "heatmap4_same_px": heatmap4_same, "heatmap4_default": heatmap4_default, "heatmap_default_px": default_px,
    });
    print_json(&report, common.json);
    Ok(())
}

/// `webclip bench-kernels`: on WebGPU every kernel of `family` (default: both), on the
/// CPU the engine's kernels, for each of `formats`.
pub fn kernels(
    engine: EngineChoice,
    family: Option<KernelFamily>,
    formats: &[WeightFormat],
    samples: usize,
    only: &str,
    as_json: bool,
) -> Result<()> {
    let families = family.map_or(KernelFamily::ALL.to_vec(), |f| vec![f]);
    let first = pollster::block_on(Runtime::new(engine, family))?;
    let (name, backend) = match first.adapter() {
        Some(a) => (a.name, a.backend),
        None => (first.description().to_string(), "cpu".to_string()),
    };
    let engine = first.engine().name();
    let runtimes = match first.engine() {
        EngineChoice::Cpu => vec![first],
        _ => families.iter().map(|&f| first.with_family(f)).collect::<Result<Vec<_>>>()?,
    };
    let mut timings = Vec::new();
    for runtime in &runtimes {
        for &format in formats {
            timings.extend(pollster::block_on(runtime.bench_kernels(format, samples, only))?);
        }
    }
    if as_json {
        println!(
            "{}",
            json!({ "engine": engine, "adapter": name, "backend": backend, "kernels": timings })
        );
    } else {
        println!("{engine}: {name} ({backend})");
        for t in timings {
            println!(
                "{:<10} {:<10} {:<4} {:<52} {:>9.3} ms  {:>7.2} GFLOP/s",
                t.family, t.kernel, t.weights, t.shape, t.median_ms, t.gflops
            );
        }
    }
    Ok(())
}
