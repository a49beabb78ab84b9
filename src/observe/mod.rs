//! What rbench observes besides its own latencies: the machine before a run (`env`), its own
//! engine threads' CPU (`threads`), and whose limit a row's figures are (`bound`).

pub mod bound;
pub mod env;
pub mod threads;
