//! Server commands: INFO, CONFIG, COMMAND, TIME, DBSIZE, FLUSHDB, SHUTDOWN, DEBUG, ...

use crate::cmd::spec::CommandSpec;

pub const COMMANDS: &[CommandSpec] = &[];
