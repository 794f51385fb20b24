//! SORT and SORT_RO.

use crate::cmd::spec::CommandSpec;

pub const COMMANDS: &[CommandSpec] = &[];
