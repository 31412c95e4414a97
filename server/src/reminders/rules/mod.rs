//! The reminders slice's decisions: pure functions over facts, unit-tested
//! without a database or a clock.

pub mod check;
pub mod defaults;
pub mod dispatch;
pub mod inbound;
pub mod lint;
pub mod locale;
pub mod nudge;
pub mod plan;
pub mod schedule;
pub mod segments;
pub mod template;

#[cfg(test)]
mod lint_cases;
