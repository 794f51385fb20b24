//! Transactions: MULTI EXEC DISCARD WATCH UNWATCH.

use crate::cmd::spec::CommandSpec;

pub const COMMANDS: &[CommandSpec] = &[];
