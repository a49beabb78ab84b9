//! How a connection reaches its server: plain TCP, a unix socket, or TLS over TCP. The engine's
//! links (mio, non-blocking) and the set-up client (tokio) both dial through a [`Dialer`], so every
//! path that talks to a server speaks the same transport. Knows nothing of RESP.

pub mod tls;
mod transport;

use std::fmt;
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use mio::event::Source;
use mio::{Interest, Registry, Token};
use tokio::io::{AsyncRead, AsyncWrite};

pub use transport::Transport;

/// Where a server listens: a TCP address, or a unix socket's path. Errors name it as it is.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Peer {
    Tcp(SocketAddr),
    Unix(Arc<Path>),
}

impl Peer {
    /// The TCP address; None for a unix socket.
    pub fn tcp(&self) -> Option<SocketAddr> {
        match self {
            Peer::Tcp(a) => Some(*a),
            Peer::Unix(_) => None,
        }
    }
}

impl fmt::Display for Peer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Peer::Tcp(a) => write!(f, "{a}"),
            Peer::Unix(p) => write!(f, "{}", p.display()),
        }
    }
}

impl From<SocketAddr> for Peer {
    fn from(a: SocketAddr) -> Peer {
        Peer::Tcp(a)
    }
}

/// How to open a connection to a server: TLS over TCP when set, else plain TCP (or the unix
/// socket the peer names).
#[derive(Clone, Debug, Default)]
pub struct Dialer {
    pub tls: Option<Arc<tls::TlsClient>>,
}

/// The set-up client's stream: whichever transport the dialer chose.
pub trait AsyncIo: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> AsyncIo for T {}

impl Dialer {
    /// Plain TCP to `peer`: the engine then runs on bare mio sockets, with no dispatch per read.
    pub fn is_plain(&self, peer: &Peer) -> bool {
        matches!(peer, Peer::Tcp(_)) && self.tls.is_none()
    }

    /// Connects (and for TLS, completes the handshake) for the set-up client. Errors are one line,
    /// certificate problems in words (see [`tls::words`]).
    pub async fn connect_async(&self, peer: &Peer) -> io::Result<Box<dyn AsyncIo>> {
        let addr = match peer {
            Peer::Unix(path) => return Ok(Box::new(tokio::net::UnixStream::connect(path).await?)),
            Peer::Tcp(a) => *a,
        };
        let tcp = tokio::net::TcpStream::connect(addr).await?;
        tcp.set_nodelay(true)?;
        match &self.tls {
            None => Ok(Box::new(tcp)),
            Some(t) => {
                let s = tokio_rustls::TlsConnector::from(t.config.clone())
                    .connect(t.server_name(addr), tcp)
                    .await
                    .map_err(tls::explain)?;
                Ok(Box::new(s))
            }
        }
    }
}

/// The event loop's stream when the dialer is not plain TCP.
pub enum Stream {
    Tcp(mio::net::TcpStream),
    Unix(mio::net::UnixStream),
    Tls(Box<tls::TlsStream>),
}

impl Transport for Stream {
    fn connect(peer: &Peer, dial: &Dialer) -> io::Result<Stream> {
        let addr = match peer {
            Peer::Unix(path) => return Ok(Stream::Unix(mio::net::UnixStream::connect(path)?)),
            Peer::Tcp(a) => *a,
        };
        let tcp = <mio::net::TcpStream as Transport>::connect(peer, dial)?;
        Ok(match &dial.tls {
            None => Stream::Tcp(tcp),
            Some(t) => Stream::Tls(Box::new(tls::TlsStream::new(tcp, t, addr)?)),
        })
    }

    fn poll_connected(&self) -> io::Result<bool> {
        match self {
            Stream::Tcp(s) => s.poll_connected(),
            Stream::Unix(s) => match s.take_error()? {
                Some(e) => Err(e),
                None => Ok(s.peer_addr().is_ok()),
            },
            Stream::Tls(s) => s.tcp().poll_connected(),
        }
    }

    fn handshaking(&self) -> bool {
        matches!(self, Stream::Tls(s) if s.handshaking())
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.read(buf),
            Stream::Unix(s) => s.read(buf),
            Stream::Tls(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.write(buf),
            Stream::Unix(s) => s.write(buf),
            Stream::Tls(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.flush(),
            Stream::Unix(s) => s.flush(),
            Stream::Tls(s) => s.flush(),
        }
    }
}

impl Source for Stream {
    fn register(&mut self, r: &Registry, t: Token, i: Interest) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.register(r, t, i),
            Stream::Unix(s) => s.register(r, t, i),
            Stream::Tls(s) => s.tcp_mut().register(r, t, i),
        }
    }

    fn reregister(&mut self, r: &Registry, t: Token, i: Interest) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.reregister(r, t, i),
            Stream::Unix(s) => s.reregister(r, t, i),
            Stream::Tls(s) => s.tcp_mut().reregister(r, t, i),
        }
    }

    fn deregister(&mut self, r: &Registry) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.deregister(r),
            Stream::Unix(s) => s.deregister(r),
            Stream::Tls(s) => s.tcp_mut().deregister(r),
        }
    }
}
