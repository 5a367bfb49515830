//! One PostgreSQL connection: a [`PeerStream`] handed to tokio-postgres (with nginx's TLS
//! when the setting's `sslmode` asks for it), its `Connection` future running as a task on
//! the event loop, and the statements prepared on it (none with [`StatementMode::Unnamed`]).

use std::rc::Rc;

use crate::ffi::executor::spawn;
use async_task::Task;
use tokio_postgres::config::SslMode as WireMode;
use tokio_postgres::tls::TlsConnect;
use tokio_postgres::{Client, Config, NoTls, Statement};

use super::statements::{StatementMode, Stmt, ALL};
use super::DbError;
use crate::conf::tls::SslMode;
use crate::conf::DbSettings;
use crate::ffi::peer::{Endpoint, PeerStream};
use crate::ffi::timer::with_deadline;
use crate::ffi::tls::PgTls;

pub struct PgConn {
    pub client: Client,
    /// In [`ALL`]'s order; empty when the statements are sent unnamed.
    statements: Vec<Statement>,
    pub endpoint: Endpoint,
    /// For a cancel request to a TCP host that may use TLS: tokio-postgres sends it with the
    /// session's `sslmode`, so over TLS when the session is.
    pub cancel_tls: Option<PgTls>,
    /// The connection future; dropping it closes the socket.
    _task: Task<()>,
}

impl PgConn {
    /// The statement prepared on this connection; `None` when they are sent unnamed.
    pub fn statement(&self, s: Stmt) -> Option<&Statement> {
        self.statements.get(s as usize)
    }

    /// Whether the statements are prepared on this connection (`music_prepared_statements on`).
    pub fn prepares(&self) -> bool {
        !self.statements.is_empty()
    }

    pub fn is_closed(&self) -> bool {
        self.client.is_closed()
    }

    /// Opens a connection to the first endpoint that answers, within `timeout_ms` each.
    pub async fn open(
        settings: &DbSettings,
        timeout_ms: u64,
        mode: StatementMode,
    ) -> Result<Rc<PgConn>, DbError> {
        let mut last = DbError::Unavailable("no database endpoint".into());
        for (endpoint, host) in settings.endpoints.iter().zip(&settings.host_names) {
            let open = Self::open_one(settings, endpoint, host, mode);
            match with_deadline(timeout_ms as _, open).await {
                Ok(Ok(conn)) => return Ok(Rc::new(conn)),
                Ok(Err(e)) => last = e,
                Err(_) => {
                    last = DbError::Unavailable(format!("connecting to {endpoint} timed out"));
                }
            }
        }
        Err(last)
    }

    async fn open_one(
        settings: &DbSettings,
        endpoint: &Endpoint,
        host: &str,
        mode: StatementMode,
    ) -> Result<PgConn, DbError> {
        let context = match endpoint {
            Endpoint::Tcp(_) => settings.tls_context,
            // unix sockets never use TLS (libpq neither)
            Endpoint::Unix(_) => None,
        };
        let Some(context) = context else {
            let config = with_mode(&settings.config, WireMode::Disable);
            let (client, task) = startup(&config, endpoint, NoTls).await?;
            return Self::prepare(client, task, endpoint, mode).await;
        };
        let connector = PgTls::new(context, host, &settings.tls);
        let started = connector.started();
        let (client, task) = match startup(&settings.config, endpoint, connector).await {
            Ok(opened) => opened,
            // `allow`: clear text first, then TLS (unverified) if the server refused that
            Err(Failed::Server(_)) if settings.tls.mode == SslMode::Allow => {
                let config = with_mode(&settings.config, WireMode::Require);
                let tls = PgTls::new(context, host, &settings.tls);
                startup(&config, endpoint, tls).await?
            }
            // `prefer`: an attempt that got as far as TLS and failed is retried in clear text
            Err(_) if settings.tls.mode == SslMode::Prefer && started.get() => {
                let config = with_mode(&settings.config, WireMode::Disable);
                startup(&config, endpoint, NoTls).await?
            }
            Err(e) => return Err(e.into()),
        };
        let mut conn = Self::prepare(client, task, endpoint, mode).await?;
        conn.cancel_tls = Some(PgTls::new(context, host, &settings.tls));
        Ok(conn)
    }

    async fn prepare(
        client: Client,
        task: Task<()>,
        endpoint: &Endpoint,
        mode: StatementMode,
    ) -> Result<PgConn, DbError> {
        let mut statements = Vec::new();
        if mode == StatementMode::Prepared {
            statements.reserve(ALL.len());
            // Pipelined: all PREPAREs go out before the first answer is awaited.
            let prepared =
                futures_util::future::join_all(ALL.iter().map(|sql| client.prepare(sql))).await;
            for p in prepared {
                statements.push(p.map_err(|e| match super::statements_lost(&e) {
                    Some(lost) => lost,
                    None => {
                        DbError::Unavailable(format!("prepare failed: {}", super::describe(&e)))
                    }
                })?);
            }
        }
        Ok(PgConn {
            client,
            statements,
            endpoint: endpoint.clone(),
            cancel_tls: None,
            _task: task,
        })
    }
}

/// `config` with another `sslmode` for one attempt.
fn with_mode(config: &Config, mode: WireMode) -> Config {
    let mut config = config.clone();
    config.ssl_mode(mode);
    config
}

/// Why an attempt failed: the server said no (its message), or anything else.
enum Failed {
    Server(String),
    Other(String),
}

impl From<Failed> for DbError {
    fn from(f: Failed) -> DbError {
        match f {
            Failed::Server(why) | Failed::Other(why) => DbError::Unavailable(why),
        }
    }
}

/// Connects to `endpoint` and runs PostgreSQL's startup (TLS first if `config` says so) with
/// `tls`; the connection then runs as a task of its own.
async fn startup<T>(
    config: &Config,
    endpoint: &Endpoint,
    tls: T,
) -> Result<(Client, Task<()>), Failed>
where
    T: TlsConnect<PeerStream> + 'static,
    T::Stream: Unpin + 'static,
{
    let stream = PeerStream::connect(endpoint)
        .await
        .map_err(|e| Failed::Other(format!("connect to {endpoint} failed: {e}")))?;
    let (client, connection) = config.connect_raw(stream, tls).await.map_err(|e| {
        let why = format!("{endpoint}: {}", super::describe(&e));
        match e.as_db_error() {
            Some(_) => Failed::Server(why),
            None => Failed::Other(why),
        }
    })?;
    let task = spawn(async move {
        // Ends when the server closes the connection or the socket fails; the client then
        // reports `is_closed()` and the pool replaces it.
        let _ = connection.await;
    });
    Ok((client, task))
}
