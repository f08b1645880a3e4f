//! Record batches. Placeholder; see the records helper.
