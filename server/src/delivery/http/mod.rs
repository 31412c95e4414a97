//! The delivery slice's HTTP handlers: KeyPackages, assignments,
//! conversations, commits, messages, catch-up and Welcomes. They parse at
//! the edge and call `accept`, `membership` and the store; real-time
//! delivery of the same log is `delivery::ws`.

pub mod conversations;
