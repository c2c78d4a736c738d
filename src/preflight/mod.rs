//! Everything preflight knows (in progress).
