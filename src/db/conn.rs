//! One PostgreSQL connection: a [`PeerStream`] handed to tokio-postgres (with nginx's TLS
//! when the setting's `sslmode` asks for it), its `Connection` future running as a task on
//! the event loop, and the statements prepared on it (none with [`StatementMode::Unnamed`]).

use std::cell::Cell;
use std::pin::Pin;
use std::rc::Rc;
use std::task::Poll;

use crate::ffi::executor::spawn;
use async_task::Task;
use tokio_postgres::config::SslMode as WireMode;
use tokio_postgres::tls::TlsConnect;
use tokio_postgres::{AsyncMessage, Client, Config, NoTls, Statement};

use super::order::attempt_order;
use super::role::{passes, Role};
use super::statements::{StatementMode, Stmt, ALL};
use super::DbError;
use crate::conf::hosts::TargetSessionAttrs;
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
    /// The session runs over TLS: each message the server flushes is a record that both ends
    /// encrypt and decrypt at a cost of its own (see `batch`).
    pub over_tls: bool,
    /// The `target_session_attrs` it was opened for, and the server's role as last reported
    /// (kept up to date by the connection task): a connection whose server no longer
    /// qualifies is retired.
    target: TargetSessionAttrs,
    role: Rc<Cell<Option<Role>>>,
    /// The connection future; dropping it closes the socket.
    _task: Task<()>,
}

/// What a connection that `LISTEN`s is told: each notification the server sends, and that
/// the connection ended (the server closed it or the socket failed).
pub trait Listener {
    fn notified(&self, channel: &str, payload: &str);
    fn ended(&self);
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

    /// Closed, or its server changed role (a standby promoted, a primary turned standby) so
    /// that it no longer suits the connection string's `target_session_attrs`.
    pub fn is_retired(&self) -> bool {
        self.is_closed()
            || self
                .role
                .get()
                .is_some_and(|role| !role.still_qualifies(self.target))
    }

    /// Opens a connection to the first endpoint that answers and suits `target_session_attrs`
    /// (libpq's order, or `load_balance_hosts=random`'s), within `timeout_ms` each. An
    /// authentication failure ends the search: the other hosts would refuse the same
    /// credentials, as libpq assumes.
    pub async fn open(
        settings: &DbSettings,
        timeout_ms: u64,
        mode: StatementMode,
    ) -> Result<Rc<PgConn>, DbError> {
        let passes = passes(settings.hosts.target);
        Self::open_for(settings, timeout_ms, mode, passes, None).await
    }

    /// A connection for `LISTEN`, its notifications and end told to `listener`: on a primary
    /// whatever `target_session_attrs` says (a standby refuses `LISTEN`, and notifications
    /// are only sent on the server where they are committed), no statements prepared.
    pub async fn open_listening(
        settings: &DbSettings,
        timeout_ms: u64,
        listener: Rc<dyn Listener>,
    ) -> Result<Rc<PgConn>, DbError> {
        let passes = &[TargetSessionAttrs::Primary];
        let mode = StatementMode::Unnamed;
        Self::open_for(settings, timeout_ms, mode, passes, Some(listener)).await
    }

    async fn open_for(
        settings: &DbSettings,
        timeout_ms: u64,
        mode: StatementMode,
        passes: &[TargetSessionAttrs],
        listener: Option<Rc<dyn Listener>>,
    ) -> Result<Rc<PgConn>, DbError> {
        let mut last = DbError::Unavailable("no database endpoint".into());
        let now = Endpoints::now(settings, timeout_ms, &mut last).await;
        let order = attempt_order(&now.host_of, settings.hosts.random);
        for &target in passes {
            for &i in &order {
                let (endpoint, host) = (&now.endpoints[i], &now.host_names[i]);
                let listener = listener.clone();
                let open = Self::open_one(settings, endpoint, host, mode, target, listener);
                match with_deadline(timeout_ms as _, open).await {
                    Ok(Ok(conn)) => return Ok(Rc::new(conn)),
                    Ok(Err(Attempt::Stop(e))) => return Err(e),
                    Ok(Err(Attempt::Next(e))) => last = e,
                    Err(_) => {
                        last = DbError::Unavailable(format!("connecting to {endpoint} timed out"));
                    }
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
        target: TargetSessionAttrs,
        listener: Option<Rc<dyn Listener>>,
    ) -> Result<PgConn, Attempt> {
        let opened = Self::start_session(settings, endpoint, host, listener).await?;
        let role = opened.role.get();
        let role = match role {
            Some(role) => Some(role),
            // a server before PostgreSQL 14 reports no role: ask, when it matters
            None if target != TargetSessionAttrs::Any => {
                let asked = ask_role(&opened.client).await.map_err(Attempt::Next)?;
                opened.role.set(Some(asked));
                Some(asked)
            }
            None => None,
        };
        if let Some(role) = role.filter(|role| !role.qualifies(target)) {
            let what = match role.hot_standby {
                true => "a hot standby",
                false if role.read_only() => "a primary whose sessions are read-only",
                false => "a primary",
            };
            return Err(Attempt::Next(DbError::Unavailable(format!(
                "{endpoint} is {what}, not a server for target_session_attrs={}",
                target.name()
            ))));
        }
        let Opened {
            client,
            task,
            role,
            cancel_tls,
            over_tls,
        } = opened;
        let mut conn = Self::prepare(client, task, endpoint, mode)
            .await
            .map_err(Attempt::Next)?;
        conn.cancel_tls = cancel_tls;
        conn.over_tls = over_tls;
        conn.target = settings.hosts.target;
        conn.role = role;
        Ok(conn)
    }

    /// PostgreSQL's startup on `endpoint`, over TLS or not as `sslmode` says.
    async fn start_session(
        settings: &DbSettings,
        endpoint: &Endpoint,
        host: &str,
        listener: Option<Rc<dyn Listener>>,
    ) -> Result<Opened, Attempt> {
        let context = match endpoint {
            Endpoint::Tcp(_) => settings.tls_context,
            // unix sockets never use TLS (libpq neither)
            Endpoint::Unix(_) => None,
        };
        let Some(context) = context else {
            let config = with_mode(&settings.config, WireMode::Disable);
            return Ok(startup(&config, endpoint, NoTls, listener).await?);
        };
        let connector = PgTls::new(context, host, &settings.tls);
        let started = connector.started();
        let first = startup(&settings.config, endpoint, connector, listener.clone()).await;
        let mut opened = match first {
            // TLS if the server took the SSLRequest (`prefer` goes on in clear text if not)
            Ok(mut opened) => {
                opened.over_tls = started.get();
                opened
            }
            // `allow`: clear text first, then TLS (unverified) if the server refused that
            Err(Failed::Server { .. }) if settings.tls.mode == SslMode::Allow => {
                let config = with_mode(&settings.config, WireMode::Require);
                let tls = PgTls::new(context, host, &settings.tls);
                let mut opened = startup(&config, endpoint, tls, listener).await?;
                opened.over_tls = true;
                opened
            }
            // `prefer`: an attempt that got as far as TLS and failed is retried in clear text
            Err(_) if settings.tls.mode == SslMode::Prefer && started.get() => {
                let config = with_mode(&settings.config, WireMode::Disable);
                startup(&config, endpoint, NoTls, listener).await?
            }
            Err(e) => return Err(e.into()),
        };
        opened.cancel_tls = Some(PgTls::new(context, host, &settings.tls));
        Ok(opened)
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
            over_tls: false,
            target: TargetSessionAttrs::Any,
            role: Rc::new(Cell::new(None)),
            _task: task,
        })
    }
}

/// The endpoints a new connection tries: those found when the configuration was read, with
/// every host name looked up again through nginx's resolver when one is set.
struct Endpoints {
    endpoints: Vec<Endpoint>,
    host_names: Vec<String>,
    host_of: Vec<usize>,
}

impl Endpoints {
    /// A name that does not resolve leaves its host out, its reason in `last`.
    async fn now(settings: &DbSettings, timeout_ms: u64, last: &mut DbError) -> Endpoints {
        let Some(resolver) = settings.resolver.get() else {
            return Endpoints {
                endpoints: settings.endpoints.clone(),
                host_names: settings.host_names.clone(),
                host_of: settings.host_of.clone(),
            };
        };
        let mut now = Endpoints {
            endpoints: Vec::new(),
            host_names: Vec::new(),
            host_of: Vec::new(),
        };
        for (host, name) in settings.names.iter().enumerate() {
            let Some((name, port)) = name else {
                for (i, _) in settings
                    .host_of
                    .iter()
                    .enumerate()
                    .filter(|(_, &h)| h == host)
                {
                    now.endpoints.push(settings.endpoints[i].clone());
                    now.host_names.push(settings.host_names[i].clone());
                    now.host_of.push(host);
                }
                continue;
            };
            let found = with_deadline(timeout_ms as _, resolver.resolve(name, *port)).await;
            match found {
                Ok(Ok(addrs)) => {
                    for addr in addrs {
                        now.endpoints.push(Endpoint::Tcp(addr));
                        now.host_names.push(name.clone());
                        now.host_of.push(host);
                    }
                }
                Ok(Err(why)) => {
                    *last = DbError::Unavailable(format!("host \"{name}\" not found: {why}"));
                }
                Err(_) => {
                    *last = DbError::Unavailable(format!("looking up \"{name}\" timed out"));
                }
            }
        }
        now
    }
}

/// `config` with another `sslmode` for one attempt.
fn with_mode(config: &Config, mode: WireMode) -> Config {
    let mut config = config.clone();
    config.ssl_mode(mode);
    config
}

/// How one endpoint's attempt ended, for the search over the hosts.
enum Attempt {
    /// The next endpoint may do better.
    Next(DbError),
    /// No endpoint will (the server refused the credentials).
    Stop(DbError),
}

/// Why a startup failed: the server said no (its message; `auth` for SQLSTATE class 28,
/// invalid authorization), or anything else.
enum Failed {
    Server { why: String, auth: bool },
    Other(String),
}

impl From<Failed> for Attempt {
    fn from(f: Failed) -> Attempt {
        match f {
            Failed::Server { why, auth: true } => Attempt::Stop(DbError::Unavailable(why)),
            Failed::Server { why, auth: false } | Failed::Other(why) => {
                Attempt::Next(DbError::Unavailable(why))
            }
        }
    }
}

/// A session after its startup, its statements not yet prepared.
struct Opened {
    client: Client,
    task: Task<()>,
    /// The server's role as it reports it (`None` before PostgreSQL 14), updated by the task.
    role: Rc<Cell<Option<Role>>>,
    cancel_tls: Option<PgTls>,
    over_tls: bool,
}

/// The role of a server that does not report it (PostgreSQL 13 and older): one query.
async fn ask_role(client: &Client) -> Result<Role, DbError> {
    let failed = |why: String| DbError::Unavailable(format!("asking the server's role: {why}"));
    let rows = client
        .simple_query(
            "SELECT pg_is_in_recovery()::text, current_setting('default_transaction_read_only')",
        )
        .await
        .map_err(|e| failed(super::describe(&e)))?;
    rows.iter()
        .find_map(|m| match m {
            tokio_postgres::SimpleQueryMessage::Row(row) => {
                let standby = row.get(0).map(|v| if v == "true" { "on" } else { "off" });
                Role::reported(standby, row.get(1))
            }
            _ => None,
        })
        .ok_or_else(|| failed("no answer".into()))
}

/// Connects to `endpoint` and runs PostgreSQL's startup (TLS first if `config` says so) with
/// `tls`; the connection then runs as a task of its own, which keeps the server's reported role
/// up to date and hands notifications to `listener` (without one they are dropped, as are
/// notices).
async fn startup<T>(
    config: &Config,
    endpoint: &Endpoint,
    tls: T,
    listener: Option<Rc<dyn Listener>>,
) -> Result<Opened, Failed>
where
    T: TlsConnect<PeerStream> + 'static,
    T::Stream: Unpin + 'static,
{
    let stream = PeerStream::connect(endpoint)
        .await
        .map_err(|e| Failed::Other(format!("connect to {endpoint} failed: {e}")))?;
    let arrivals = stream.arrivals();
    let (client, mut connection) = config.connect_raw(stream, tls).await.map_err(|e| {
        let why = format!("{endpoint}: {}", super::describe(&e));
        match e.as_db_error() {
            Some(db) => Failed::Server {
                why,
                auth: db.code().code().starts_with("28"),
            },
            None => Failed::Other(why),
        }
    })?;
    let reported = |c: &tokio_postgres::Connection<_, _>| {
        Role::reported(
            c.parameter("in_hot_standby"),
            c.parameter("default_transaction_read_only"),
        )
    };
    let role = Rc::new(Cell::new(reported(&connection)));
    let watched = role.clone();
    let task = spawn(std::future::poll_fn(move |cx| {
        // Ends when the server closes the connection or the socket fails; the client then
        // reports `is_closed()` and the pool replaces it. A ParameterStatus the server sends
        // meanwhile (a promotion changes `in_hot_standby`) is read here.
        let done = loop {
            match Pin::new(&mut connection).poll_message(cx) {
                Poll::Ready(Some(Ok(AsyncMessage::Notification(n)))) => {
                    if let Some(listener) = &listener {
                        listener.notified(n.channel(), n.payload());
                    }
                }
                Poll::Ready(Some(Ok(_))) => {}
                Poll::Ready(Some(Err(_)) | None) => break Poll::Ready(()),
                Poll::Pending => break Poll::Pending,
            }
        };
        // Two SipHash lookups: only when what the server sent may hold a ParameterStatus
        // not looked at yet, not after every poll (a request's send wakes the task too).
        if arrivals.unsettled() {
            if let Some(now) = reported(&connection) {
                watched.set(Some(now));
            }
        }
        if let (Poll::Ready(()), Some(listener)) = (done, &listener) {
            listener.ended();
        }
        done
    }));
    Ok(Opened {
        client,
        task,
        role,
        cancel_tls: None,
        over_tls: false,
    })
}
