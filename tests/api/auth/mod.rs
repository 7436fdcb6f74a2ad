//! Authentication: tokens and their keys.

mod tokens;
