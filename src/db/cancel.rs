//! The socket of a cancel request. The server (PostgreSQL, or a pooler in front of it) closes
//! it once it has passed the request on, and that close is the only answer. libpq waits for
//! it; closing the socket first, as soon as the request is written (what tokio-postgres's
//! `cancel_query_raw` does when it shuts the stream down), can lose the cancel, and makes
//! PgBouncer 1.18 exit ("FATAL ... disconnect_client(): bad client state: 0") when it is still
//! forwarding the request. So the shutdown here first reads until the other end closes; the
//! caller bounds that wait with the cancel's deadline.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use std::future::Future;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_postgres::tls::{ChannelBinding, TlsConnect, TlsStream};

/// A stream whose shutdown waits for the other end to close first.
pub struct CloseAfterPeer<S>(pub S);

impl<S: AsyncRead + Unpin> AsyncRead for CloseAfterPeer<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for CloseAfterPeer<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, data)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        // Nothing is expected before the close; whatever comes is read and dropped.
        let mut scratch = [0u8; 64];
        loop {
            let mut buf = ReadBuf::new(&mut scratch);
            match Pin::new(&mut self.0).poll_read(cx, &mut buf) {
                Poll::Pending => return Poll::Pending,
                // closed (end of stream) or reset: the other end is done either way
                Poll::Ready(Ok(())) if buf.filled().is_empty() => break,
                Poll::Ready(Err(_)) => break,
                Poll::Ready(Ok(())) => {}
            }
        }
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

/// A TLS connector over a [`CloseAfterPeer`] stream whose TLS stream waits for the server's
/// close too: whether the server then answers the SSLRequest with TLS or, under `prefer`, in
/// clear text, the cancel's socket stays open until the server has closed it.
pub struct CloseAfterPeerTls<T>(pub T);

impl<S, T: TlsConnect<S>> TlsConnect<CloseAfterPeer<S>> for CloseAfterPeerTls<T>
where
    T::Future: 'static,
    T::Stream: 'static,
{
    type Stream = CloseAfterPeer<T::Stream>;
    type Error = T::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Stream, T::Error>>>>;

    fn connect(self, stream: CloseAfterPeer<S>) -> Self::Future {
        let connecting = self.0.connect(stream.0);
        Box::pin(async move { connecting.await.map(CloseAfterPeer) })
    }
}

impl<S: TlsStream + Unpin> TlsStream for CloseAfterPeer<S> {
    fn channel_binding(&self) -> ChannelBinding {
        self.0.channel_binding()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::VecDeque;
    use std::task::Waker;

    /// Reads come from `reads` (`None`: not ready yet); records when it was shut down.
    struct Scripted {
        reads: VecDeque<Option<&'static [u8]>>,
        shut_down: bool,
    }

    impl AsyncRead for Scripted {
        fn poll_read(
            mut self: Pin<&mut Self>,
            _cx: &mut Context<'_>,
            buf: &mut ReadBuf<'_>,
        ) -> Poll<io::Result<()>> {
            match self.reads.pop_front() {
                Some(None) => Poll::Pending,
                Some(Some(bytes)) => {
                    buf.put_slice(bytes);
                    Poll::Ready(Ok(()))
                }
                None => Poll::Ready(Ok(())),
            }
        }
    }

    impl AsyncWrite for Scripted {
        fn poll_write(
            self: Pin<&mut Self>,
            _cx: &mut Context<'_>,
            data: &[u8],
        ) -> Poll<io::Result<usize>> {
            Poll::Ready(Ok(data.len()))
        }

        fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }

        fn poll_shutdown(mut self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            self.shut_down = true;
            Poll::Ready(Ok(()))
        }
    }

    #[test]
    fn shutdown_waits_for_the_other_end_to_close() {
        let mut s = CloseAfterPeer(Scripted {
            reads: VecDeque::from([None, Some(&b"x"[..]), None]),
            shut_down: false,
        });
        let mut cx = Context::from_waker(Waker::noop());
        let mut shutdown = || Pin::new(&mut s).poll_shutdown(&mut cx).is_ready();
        assert!(!shutdown(), "nothing read yet: the server has not closed");
        assert!(!shutdown(), "a stray byte is not the close");
        assert!(shutdown(), "end of stream: the server closed");
        assert!(s.0.shut_down);
    }
}
