//! What the client process observes about itself while a phase runs (apart from what it measures
//! of the server): its engine threads' CPU.

pub mod threads;
