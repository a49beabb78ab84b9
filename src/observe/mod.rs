//! Watching the servers under load, on the observer's own thread and connections (never the hot
//! path): `info` parses INFO, `sampler` samples every node each second, `second` and `window` are
//! what it reports per second and over the window, `latency` reads the LATENCY monitor.

pub mod info;
pub mod latency;
mod node;
pub mod sampler;
pub mod second;
mod track;
pub mod window;

pub use info::{Info, NodeSample};
pub use latency::MonitorState;
pub use sampler::{Sampler, SamplerOpts};
pub use second::ServerSecond;
pub use window::{CmdWindow, NodeWindow, ServerEvent, ServerWindow};
