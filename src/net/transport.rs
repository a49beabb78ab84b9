//! The byte stream under a non-blocking connection. An event loop is generic over it, so TLS and
//! unix sockets are one more implementation each, not a second loop. Lives here, beside its
//! implementations, so `net` needs nothing from the engine above it.

use std::io::{self, Read, Write};

use mio::event::Source;

use super::{Dialer, Peer};

/// A non-blocking stream the event loop can register, read and write.
pub trait Transport: Read + Write + Source + Sized {
    /// Starts connecting without blocking; completion is signalled by a writable event.
    fn connect(peer: &Peer, dial: &Dialer) -> io::Result<Self>;
    /// Ok(true) once connected, Ok(false) while the connect is in progress, Err when it failed.
    fn poll_connected(&self) -> io::Result<bool>;
    /// Still in a transport handshake (TLS): requests written now wait in the transport.
    fn handshaking(&self) -> bool {
        false
    }
}

impl Transport for mio::net::TcpStream {
    fn connect(peer: &Peer, _: &Dialer) -> io::Result<Self> {
        let Peer::Tcp(addr) = peer else {
            // The runner picks this transport for TCP peers only (`Dialer::is_plain`).
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "a unix socket needs the unix transport",
            ));
        };
        let s = mio::net::TcpStream::connect(*addr)?;
        // Requests are small and latency is the measurement: never let Nagle hold one back.
        s.set_nodelay(true)?;
        Ok(s)
    }

    fn poll_connected(&self) -> io::Result<bool> {
        if let Some(e) = self.take_error()? {
            return Err(e);
        }
        match self.peer_addr() {
            Ok(_) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::NotConnected => Ok(false),
            Err(e) => Err(e),
        }
    }
}
