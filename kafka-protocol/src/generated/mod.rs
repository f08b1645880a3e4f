// @generated placeholder: replaced by `cargo xtask codegen`.
//! Placeholder until the code generator runs.

/// Placeholder API key type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApiKey {
    /// Produce.
    Produce = 0,
}
