//! One PostgreSQL connection: a [`PeerStream`] handed to tokio-postgres, its `Connection`
//! future running as a task on the event loop, and the statements prepared on it (none with
//! [`StatementMode::Unnamed`]).

use std::rc::Rc;

use crate::ffi::executor::spawn;
use async_task::Task;
use tokio_postgres::{Client, NoTls, Statement};

use super::statements::{StatementMode, Stmt, ALL};
use super::DbError;
use crate::conf::DbSettings;
use crate::ffi::peer::{Endpoint, PeerStream};
use crate::ffi::timer::with_deadline;

pub struct PgConn {
    pub client: Client,
    /// In [`ALL`]'s order; empty when the statements are sent unnamed.
    statements: Vec<Statement>,
    pub endpoint: Endpoint,
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
        for endpoint in &settings.endpoints {
            match with_deadline(timeout_ms as _, Self::open_one(settings, endpoint, mode)).await {
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
        mode: StatementMode,
    ) -> Result<PgConn, DbError> {
        let stream = PeerStream::connect(endpoint)
            .await
            .map_err(|e| DbError::Unavailable(format!("connect to {endpoint} failed: {e}")))?;
        let (client, connection) = settings
            .config
            .connect_raw(stream, NoTls)
            .await
            .map_err(|e| DbError::Unavailable(format!("{endpoint}: {}", super::describe(&e))))?;
        let task = spawn(async move {
            // Ends when the server closes the connection or the socket fails; the client then
            // reports `is_closed()` and the pool replaces it.
            let _ = connection.await;
        });
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
            _task: task,
        })
    }
}
