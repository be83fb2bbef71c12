//! Running the hub: the HTTP server for a set of functions around the [`Hub`] state, and `main`.

use std::future::Future;
use std::net::TcpListener;
use std::sync::Arc;

use actix_web::dev::Server;
use actix_web::{web, App, HttpServer};

use crate::routes::Function;
use crate::settings::Settings;

pub use crate::hub::{Hub, StartError};
pub use crate::retry::StartBudget;

/// A hub server bound to a port, serving some functions.
pub struct Application {
    port: u16,
    server: Server,
    hub: Arc<Hub>,
    /// The listening socket the server accepts on (a second handle, to close it at the stop).
    listener: TcpListener,
}

impl Application {
    /// Bind `settings.bind:settings.port` (port 0 picks a free port) and build the server.
    pub async fn build(
        mut settings: Settings,
        functions: &[Function],
    ) -> Result<Application, StartError> {
        let listener = TcpListener::bind((settings.bind.as_str(), settings.port)).map_err(|e| {
            StartError::Other(format!(
                "cannot listen on {}:{}: {e}",
                settings.bind, settings.port
            ))
        })?;
        // Only a process that runs executes sets memory aside for query executes.
        settings.capacity.serves_executes = functions.contains(&Function::ActionExecute);
        // Settings these functions cannot run without are refused before anything is touched
        // (no store file created, no Secret Manager call).
        settings.check_for(functions)?;
        // Only a process that runs executes sends to RudderStack: the others read no write key
        // (their service accounts have no access to them).
        settings.rudder.sources.names_only = !functions.contains(&Function::ActionExecute);
        let hub = Hub::new(settings).await?;
        Self::with_hub(hub, listener, functions)
    }

    /// Build the server around an existing state and listener.
    pub fn with_hub(
        hub: Hub,
        listener: TcpListener,
        functions: &[Function],
    ) -> Result<Application, StartError> {
        hub.settings.check_for(functions)?;
        let port = listener
            .local_addr()
            .map_err(|e| StartError::Other(e.to_string()))?
            .port();
        let own = listener
            .try_clone()
            .map_err(|e| StartError::Other(format!("cannot serve: {e}")))?;
        let workers = hub.settings.workers;
        let hub = Arc::new(hub);
        let data = web::Data::from(hub.clone());
        let playground = crate::http::playground::for_hub(&hub.settings, functions);
        let functions: Arc<[Function]> = functions.into();
        let mut server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .wrap(actix_web::middleware::from_fn(
                    crate::http::local::this_machine_only,
                ))
                .wrap(actix_web::middleware::from_fn(crate::http::log_request))
                .configure(|cfg| crate::http::playground::configure(cfg, playground.clone()))
                .configure(|cfg| crate::http::configure(cfg, &functions))
        })
        // The stop signal is handled by `run_until`: requests and executes in flight are waited
        // for there (see `lifecycle`); the server's own graceful stop then only flushes answers.
        .disable_signals()
        .shutdown_timeout(1);
        if let Some(n) = workers {
            server = server.workers(n);
        }
        let server = server
            .listen(listener)
            .map_err(|e| StartError::Other(format!("cannot serve: {e}")))?
            .run();
        Ok(Application {
            port,
            server,
            hub,
            listener: own,
        })
    }

    /// The bound port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Serve until SIGTERM / SIGINT, then shut down gracefully (see [`crate::lifecycle`]).
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.run_until(stop_signal()).await
    }

    /// Serve until `stop` resolves, then shut down gracefully: stop accepting, let requests and
    /// executes in flight finish within the grace period (`HUB_SHUTDOWN_GRACE_SECS`), flush the
    /// answers and return.
    pub async fn run_until(
        self,
        stop: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let Application {
            server,
            hub,
            listener,
            ..
        } = self;
        let handle = server.handle();
        let stopper = tokio::spawn(async move {
            stop.await;
            let grace = hub.settings.shutdown_grace;
            tracing::info!(
                grace_secs = grace.as_secs_f64(),
                "stop signal received: shutting down gracefully"
            );
            handle.pause().await;
            stop_listening(&listener);
            let start = std::time::Instant::now();
            hub.lifecycle.drain(grace).await;
            if let Some(ledger) = &hub.ledger {
                // The runs of the executes just finished are stored before the exit: what is
                // left of the grace period, at least half a second.
                let left = grace.saturating_sub(start.elapsed());
                ledger
                    .drain(left.max(std::time::Duration::from_millis(500)))
                    .await;
            }
            handle.stop(true).await;
        });
        let result = server.await;
        stopper.abort();
        result
    }
}

/// Close the port while the connections already accepted are served on: a new connection is
/// refused at once (the platform, or the client, goes to another instance) instead of waiting in
/// the kernel's queue for an accept that never comes and being reset at the exit. `shutdown` on
/// a listening socket takes it out of the listening state (Linux); the server's accept loop is
/// paused first, so it never sees the closed socket.
fn stop_listening(listener: &TcpListener) {
    use std::os::fd::AsRawFd;
    // SAFETY: `shutdown` only changes the state of the socket behind this open descriptor.
    let rc = unsafe { libc::shutdown(listener.as_raw_fd(), libc::SHUT_RD) };
    if rc == 0 {
        tracing::info!("stopped listening: new connections are refused");
    } else {
        let e = std::io::Error::last_os_error();
        tracing::warn!(error = %e, "could not close the listening socket: new connections wait until the exit");
    }
}

/// The first SIGTERM or SIGINT; a second one ends the process at once.
async fn stop_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        tracing::error!("cannot listen for stop signals: the hub stops only when killed");
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
    tokio::spawn(async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
        tracing::warn!("second stop signal: exiting now");
        std::process::exit(1);
    });
}

/// The whole `main` of every binary: settings, telemetry, serve the given functions on `$PORT`.
pub fn run_main(functions: &[Function]) -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--help" || a == "-h") {
        print!("{}", usage(functions));
        std::process::exit(0);
    }
    if let Some(unknown) = args.iter().find(|a| *a != "--local") {
        eprintln!(
            "action hub: unknown argument {unknown:?}\n\n{}",
            usage(functions)
        );
        std::process::exit(2);
    }
    bound_heap_growth();
    let settings = match Settings::from_env() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("action hub: cannot start: {e}");
            std::process::exit(2);
        }
    };
    crate::telemetry::init(&settings);
    if settings.uses_dev_token() {
        tracing::warn!(
            "LOCAL MODE: accepting the well-known dev hub token {:?}. Never run like this in production: set HUB_TOKENS.",
            crate::settings::LOCAL_DEV_TOKEN
        );
    }
    let names: Vec<&str> = functions.iter().map(|f| f.service_name()).collect();
    actix_web::rt::System::new().block_on(async move {
        let (bind, port) = (settings.bind.clone(), settings.port);
        match Application::build(settings, functions).await {
            Ok(app) => {
                tracing::info!(port = app.port(), functions = ?names, "action hub listening on {bind}:{port}");
                app.run_until_stopped().await
            }
            Err(e) => {
                tracing::error!(event = "start_failed", error = %e, "action hub cannot start");
                eprintln!("action hub: cannot start: {e}");
                std::process::exit(2);
            }
        }
    })
}

/// What `--help` prints for a binary serving `functions`.
fn usage(functions: &[Function]) -> String {
    let names: Vec<&str> = functions.iter().map(|f| f.service_name()).collect();
    let all = functions == Function::ALL;
    let mut text = format!(
        "Looker action hub ({}): serves the Looker Action API on $PORT (default 8080).\n\n\
         usage: {} [--local]\n",
        names.join(", "),
        if all { "hub" } else { names[0] },
    );
    if all {
        text.push_str(
            "       hub check-actions FILE...       check write-back actions files, list every problem\n\
             \x20      hub generate-actions FILE DIR   their terraform table schemas, LookML and deployable file\n\
             \x20      hub runs [--failed] [RUN_ID]    the last runs in the embedded store's run ledger\n",
        );
    }
    text.push_str(
        "\n  --local   local mode: a well-known dev hub token when HUB_TOKENS is unset, the embedded\n\
         \x20           store, the playground at /playground (hub only; never in production)\n\n\
         Settings are environment variables (docs/settings.md): HUB_TOKENS (the secret(s) Looker\n\
         sends), HUB_PUBLIC_URL, HUB_ACTIONS_FILE, HUB_BIGQUERY_DATASET, RUDDER_SOURCES, ...\n",
    );
    text
}

/// Keep the resident memory of a busy hub bounded. glibc's malloc raises its mmap threshold each
/// time a large block (a 500 KB RudderStack batch, a 64 KB read buffer) is freed, after which such
/// blocks come from the per-thread arenas and stay there, fragmented: under mixed load (see
/// `scripts/load.sh`) the hub's RSS climbed to ~260 MB before settling. A fixed threshold (which
/// also turns the dynamic raise off) keeps large blocks in mmap, returned on free: ~27 MB.
fn bound_heap_growth() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: mallopt only changes allocator parameters; it is called before any thread of the
        // hub starts.
        let ok = unsafe { libc::mallopt(libc::M_MMAP_THRESHOLD, 128 * 1024) };
        if ok != 1 {
            eprintln!("action hub: could not set the allocator's mmap threshold");
        }
    }
}
