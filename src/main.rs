//! The `confab` binary: serve (default), migrate, export-schema, schema diff, token, seed.

use std::process::ExitCode;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use clap::Parser;
use confab::app::{self, StartError};
use confab::config::{
    Cli, Command, DatabaseArgs, SchemaArgs, SchemaCommand, SchemaDiffArgs, Settings,
};
use confab::{metrics, seed};

/// jemalloc, with its background threads and as C's malloc too: under the hostile mix of
/// `benches/soak.rs` it is the allocator that gives the memory of large answers back to
/// the system once they are freed, idle or not (glibc's malloc and mimalloc kept it; see
/// README, "Memory under a hostile mix").
#[cfg(feature = "jemalloc")]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Before the runtime: the OTLP exporter's blocking client starts its own. Dropped last,
    // after the runtime, so that the spans of the last requests are flushed.
    let _telemetry = match confab::telemetry::init(cli.serve_settings().log_format) {
        Ok(telemetry) => telemetry,
        Err(err) => {
            eprintln!("confab: {err}");
            return ExitCode::FAILURE;
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(err) => {
            eprintln!("confab: cannot start the runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("confab: {err}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<ExitCode, StartError> {
    match cli.command {
        None => serve(&cli.settings).await?,
        Some(Command::Serve(settings)) => serve(&settings).await?,
        Some(Command::Migrate(database)) => {
            let settings = database.settings(None);
            let connected = app::connect(&settings).await?;
            app::migrate(&settings, &connected.conn).await?;
            println!("migrations applied");
        }
        Some(Command::ExportSchema) => print!("{}", confab::graphql::sdl()),
        Some(Command::Schema(SchemaArgs {
            command: SchemaCommand::Diff(args),
        })) => return Ok(schema_diff(args)),
        Some(Command::Token(args)) => {
            let settings = DatabaseArgs {
                database_url: args.database_url.clone(),
                db_max_connections: 1,
                database_schema: confab::config::DEFAULT_SCHEMA.to_owned(),
                search_config: migration::search_index::DEFAULT_CONFIG.to_owned(),
            }
            .settings(Some(&args.mint));
            println!("{}", app::token(&settings, &args.claims)?);
        }
        Some(Command::Seed(args)) => {
            if !args.demo {
                return Err(StartError::Config("say what to seed: --demo".into()));
            }
            let settings = args.database.settings(Some(&args.mint));
            // The demo token is signed with the development secret, made now if need be.
            app::hs256_secret(&settings)?;
            let connected = app::connect(&settings).await?;
            app::migrate(&settings, &connected.conn).await?;
            let created = seed::seed_demo(&connected.conn).await.map_err(|e| {
                StartError::Config(format!("seeding failed: {}", e.public_message()))
            })?;
            if created {
                eprintln!("demo data created for {}", seed::DEMO_EMAIL);
            } else {
                eprintln!("demo data already present for {}", seed::DEMO_EMAIL);
            }
            println!("{}", app::demo_token(&settings)?);
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `confab schema diff`: the report on stdout; exit 1 when the run fails (a breaking
/// change, or a broken saved operation), 2 when an input cannot be read or parsed.
fn schema_diff(args: SchemaDiffArgs) -> ExitCode {
    let request = confab::schema_diff::DiffRequest {
        old: args.old,
        new: args.new,
        sections: args.sections,
        operations: args.operations,
    };
    match confab::schema_diff::run(&request, confab::graphql::sdl) {
        Ok(report) => {
            print!("{}", report.render());
            if report.fails() {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            }
        }
        Err(err) => {
            eprintln!("confab schema diff: {err}");
            ExitCode::from(2)
        }
    }
}

async fn serve(settings: &Settings) -> Result<(), StartError> {
    // The port first: a port in use stops the start before the database is touched.
    let listener = tokio::net::TcpListener::bind(settings.listen.as_str())
        .await
        .map_err(|e| StartError::Config(format!("cannot listen on {}: {e}", settings.listen)))?;
    let app = app::build(settings).await?;
    let addr = listener
        .local_addr()
        .map_err(|e| StartError::Config(e.to_string()))?;
    println!("confab listening on http://{addr}");
    println!("GraphiQL: http://{addr}/graphql");
    if settings.development_mode() {
        eprintln!();
        eprintln!("WARNING: development mode. No CONFAB_JWT_SECRET, CONFAB_JWKS_URL or CONFAB_JWKS_FILE is set,");
        eprintln!(
            "so tokens are signed with a generated secret kept in {}.",
            settings.data_dir().join(".confab-dev-secret").display()
        );
        eprintln!("Do not run this way in production.");
        eprintln!();
        println!(
            "Dev token for the demo user {} ({}):",
            seed::DEMO_EMAIL,
            seed::DEMO_USER
        );
        if let Some(token) = &app.state.dev_token {
            println!("Authorization: Bearer {token}");
        }
    }
    let at_signal = Arc::new(OnceLock::new());
    let signalled = at_signal.clone();
    let stop = async move {
        shutdown_signal().await;
        // The gauges /metrics keeps anyway: what there is to drain.
        let requests = metrics::requests_in_flight();
        let websockets = metrics::websocket_connections();
        signalled.set((requests, websockets)).ok();
        tracing::info!(
            "shutting down: draining {requests} requests in flight, closing {websockets} WebSocket connections"
        );
        confab::http::ws::close_all();
    };
    let drained =
        confab::http::serve::serve(listener, app.router, app::connection_limits(settings), stop)
            .await;
    if drained.cut > 0 {
        tracing::warn!(
            "the drain timeout ({:?}) ran out: {} connections dropped with requests unfinished",
            settings.drain_timeout,
            drained.cut
        );
    }
    if let Some(&(requests, websockets)) = at_signal.get() {
        // Upgraded connections are not the server's to wait for: give them a bounded time
        // to send their close frame.
        let deadline = tokio::time::Instant::now() + WEBSOCKET_CLOSE_GRACE;
        while metrics::websocket_connections() > 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let left = metrics::websocket_connections();
        tracing::info!(
            "shutdown complete: drained {requests} requests in flight, closed {} WebSocket connections ({left} still open)",
            websockets - left
        );
    }
    Ok(())
}

/// How long a graceful shutdown waits for WebSocket connections to close.
const WEBSOCKET_CLOSE_GRACE: Duration = Duration::from_secs(5);

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
}
