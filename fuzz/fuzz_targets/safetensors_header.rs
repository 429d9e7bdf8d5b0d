//! A weights file as a load sees it before the GPU: the safetensors header
//! (`Header::read`), a webclip model file's embedded texts and stored format
//! (`ModelSource::open`), the configs they carry, and `Weights::check`, which
//! compares every tensor the config implies with the header; a file that
//! passes is planned as the model file a browser load would record, and has
//! every tensor read (and packed) from memory, which must succeed with the
//! sizes the config promised.
//!
//! A plain checkpoint brings no config of its own, so it is checked against
//! the tiny fixture model's and against the micro one the seeds were made
//! with (see README.md).
#![no_main]

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use libfuzzer_sys::fuzz_target;
use webclip::image::PreprocessConfig;
use webclip::model::header;
use webclip::model::model_file::{self, Plan};
use webclip::model::reader::BytesSource;
use webclip::model::schema::{self, Kind};
use webclip::model::weights::Weights;
use webclip::model::{ClipConfig, ModelSource, ModelTexts};

const TINY_CONFIG: &str = include_str!("../../tests/fixtures/tiny-clip/config.json");
const MICRO_CONFIG: &str = include_str!("../seeds/config/micro-config.json");
const PREPROCESSOR: &str = include_str!("../../tests/fixtures/tiny-clip/preprocessor_config.json");

/// Every read of a `BytesSource` is ready at once, so one poll must finish
/// any of these futures; pending would mean a read that waits on nothing.
fn now<T>(future: impl Future<Output = T>) -> T {
    match pin!(future).as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(value) => value,
        Poll::Pending => panic!("a future over in-memory bytes did not complete on its first poll"),
    }
}

/// What `ClipModel::load_source` does before its first upload, then the reads
/// the towers make, without the GPU.
fn load(bytes: &[u8], texts: Option<ModelTexts>) -> webclip::Result<()> {
    let file = BytesSource { bytes, name: "fuzz.safetensors".into() };
    let source = now(ModelSource::open(&file, texts))?;
    let format = source.format(None)?;
    let config = ClipConfig::from_json(&source.texts.config)?;
    PreprocessConfig::from_json(&source.texts.preprocessor)?;
    let w = Weights::check(source.weights, source.header, &config, format)?;
    // A browser load records what it loaded as a model file: its plan must read back as one.
    let plan = Plan::new(&source.texts, format, "fuzz")?;
    let (_, metadata) = header::parse(&plan.header, "plan").expect("a planned header reads back");
    assert_eq!(model_file::stored_format(&metadata, "plan").expect("a planned header's format"), Some(format));
    for e in schema::expected(&config) {
        let values: usize = e.shape.iter().product();
        match e.kind {
            Kind::Small => assert_eq!(now(w.get(&e.name))?.len(), values, "{}", e.name),
            Kind::Matrix => {
                let m = now(w.matrix(&e.name))?;
                assert_eq!((m.n, m.k), schema::matrix_dims(&e.shape), "{}", e.name);
            }
        }
    }
    Ok(())
}

fuzz_target!(|input: &[u8]| {
    // An input starting with `{` is a header alone, its length put in front here:
    // in a whole file most insertions into the JSON break the length prefix, so
    // this is how the fuzzer edits the configs and tensor lists a header holds.
    let framed;
    let bytes = if input.first() == Some(&b'{') {
        framed = [&(input.len() as u64).to_le_bytes()[..], input].concat();
        &framed
    } else {
        input
    };
    // A webclip model file carries its texts; anything else is tried as a checkpoint.
    if load(bytes, None).is_err() {
        for config in [TINY_CONFIG, MICRO_CONFIG] {
            let texts = ModelTexts { config: config.into(), tokenizer: b"{}".to_vec(), preprocessor: PREPROCESSOR.into() };
            let _ = load(bytes, Some(texts));
        }
    }
});
