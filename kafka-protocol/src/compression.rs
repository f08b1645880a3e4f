//! Compression codecs. Placeholder.
