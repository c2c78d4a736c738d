//! What the loader tells a progress display while it reads layers: one sink per
//! layer, fed the compressed bytes as they arrive. The library knows no terminal;
//! the `image-check` binary draws bars on a TTY (`app.rs`), everything else
//! passes `None` and pays nothing.

use std::io::Read;
use std::sync::Arc;

/// A display of layer reads.
pub trait Progress: Send + Sync {
    /// Layer `index` of `count` (1-based), `size` compressed bytes when known.
    fn layer(
        &self,
        index: usize,
        count: usize,
        digest: &str,
        size: Option<u64>,
    ) -> Arc<dyn LayerProgress>;
}

/// One layer's line.
pub trait LayerProgress: Send + Sync {
    fn read(&self, bytes: u64);
    /// Served from the layer cache: nothing was read.
    fn cached(&self);
    /// Read whole and verified.
    fn done(&self);
    /// The read failed (the error itself is reported elsewhere).
    fn failed(&self);
}

/// A reader that reports what passes through it.
pub struct Counting<R> {
    inner: R,
    sink: Arc<dyn LayerProgress>,
}

impl<R> Counting<R> {
    pub fn new(inner: R, sink: Arc<dyn LayerProgress>) -> Self {
        Counting { inner, sink }
    }
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.sink.read(n as u64);
        Ok(n)
    }
}
