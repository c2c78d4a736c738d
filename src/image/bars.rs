//! Layer progress on a terminal: one line per layer on stderr (digest, bar,
//! bytes, rate), drawn by indicatif; a layer served from the cache says so. Only
//! when stderr is a TTY and `--quiet` is not given, so logs and pipes stay clean.

use super::progress::{LayerProgress, Progress};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::sync::Arc;

pub struct Bars {
    multi: MultiProgress,
}

impl Bars {
    /// Bars on stderr, or `None` when they would not be seen as bars.
    pub fn for_stderr(quiet: bool) -> Option<Arc<dyn Progress>> {
        if quiet || !std::io::stderr().is_terminal() {
            return None;
        }
        Some(Arc::new(Bars {
            multi: MultiProgress::with_draw_target(ProgressDrawTarget::stderr()),
        }))
    }
}

const READING: &str =
    "layer {prefix:>5} {msg:19} [{bar:30}] {bytes:>10}/{total_bytes:<10} {binary_bytes_per_sec}";
const UNSIZED: &str = "layer {prefix:>5} {msg:19} {bytes:>10} {binary_bytes_per_sec}";

impl Progress for Bars {
    fn layer(
        &self,
        index: usize,
        count: usize,
        digest: &str,
        size: Option<u64>,
    ) -> Arc<dyn LayerProgress> {
        // Hidden until the multi-bar owns it, so it never draws on its own.
        let bar = ProgressBar::hidden();
        let template = match size {
            Some(s) => {
                bar.set_length(s);
                READING
            }
            None => UNSIZED,
        };
        if let Ok(style) = ProgressStyle::with_template(template) {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.set_prefix(format!("{index}/{count}"));
        bar.set_message(digest.to_string());
        Arc::new(Line(self.multi.add(bar)))
    }
}

struct Line(ProgressBar);

impl LayerProgress for Line {
    fn read(&self, bytes: u64) {
        self.0.inc(bytes);
    }

    fn cached(&self) {
        let done = self.0.message();
        if let Ok(style) = ProgressStyle::with_template("layer {prefix:>5} {msg}") {
            self.0.set_style(style);
        }
        self.0.finish_with_message(format!("{done} cached"));
    }

    fn done(&self) {
        self.0.finish();
    }

    fn failed(&self) {
        self.0.abandon();
    }
}
