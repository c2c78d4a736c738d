//! One probe per file. Each takes the environment snapshot and its rule and returns
//! a [`crate::report::CheckOutcome`]; none prints, and the async ones respect the
//! deadline they are given.

pub mod env;
pub mod postgres;
pub mod s3;
pub mod secrets;
