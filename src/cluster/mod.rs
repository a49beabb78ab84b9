//! Redis Cluster: slot hashing, the slot map and its refresh. The worker asks it where a key goes.

pub mod policy;
pub mod slot;
pub mod topology;

use std::sync::Arc;

use crate::net::Peer;

pub use topology::{Topology, TopologyError};

/// Where requests go: one server, or the owner of each key's slot.
#[derive(Clone)]
pub enum Route {
    Single(Peer),
    Cluster(Arc<Topology>),
}
