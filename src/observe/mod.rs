//! What rbench observes besides its own latencies, always on its own threads and connections
//! (never the hot path):
//! - the servers under load: `info` parses INFO, `sampler` samples every node each interval,
//!   `second` and `window` are what it reports per second and over the window, `latency` reads
//!   the LATENCY monitor;
//! - itself: its engine threads' CPU each second (`threads`);
//! - the machine before a run (`env`), and whose limit a row's figures are (`bound`).

pub mod bound;
pub mod env;
pub mod info;
pub mod latency;
mod node;
pub mod sampler;
pub mod second;
pub mod threads;
mod track;
pub mod window;

pub use info::{Info, NodeSample};
pub use latency::MonitorState;
pub use sampler::{Sampler, SamplerOpts};
pub use second::ServerSecond;
pub use window::{CmdWindow, NodeWindow, ServerEvent, ServerWindow};
