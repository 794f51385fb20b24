//! Sorted sets.

use crate::cmd::spec::CommandSpec;

pub const COMMANDS: &[CommandSpec] = &[];
