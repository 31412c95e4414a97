//! The `alcove` command.

use alcove_server::config::{CliOverrides, Settings, TEMPLATE};
use alcove_server::{bootstrap, clock::SystemClock, storage};
use clap::{Parser, Subcommand};
use std::net::SocketAddr;
use std::path::PathBuf;

/// Alcove: end-to-end encrypted messaging and reminders for therapy practices.
#[derive(Parser)]
#[command(name = "alcove", version)]
struct Cli {
    /// Configuration file (TOML). Default: ./alcove.toml when present.
    #[arg(long, env = "ALCOVE_CONFIG", global = true)]
    config: Option<PathBuf>,
    /// Address to listen on [default: 127.0.0.1:8080].
    #[arg(long, env = "ALCOVE_LISTEN", global = true)]
    listen: Option<SocketAddr>,
    /// Folder for the SQLite database and keys [default: ./alcove-data].
    #[arg(long, env = "ALCOVE_DATA_DIR", global = true)]
    data_dir: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server (the default).
    Serve,
    /// Create the database and the first practice, printing its setup link.
    Init {
        /// Create an additional practice with this name (multi-tenant hosting).
        #[arg(long)]
        new_practice: Option<String>,
    },
    /// Apply database migrations and exit.
    Migrate,
    /// Print a commented default configuration.
    Config,
    /// The tamper-evident audit log.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Verify the live database (every practice, or one) or an export file
    /// against signed tree heads and the audit public key. Exit status 1
    /// when anything is wrong; each problem is named.
    Verify {
        /// Verify this export file (JSONL or CSV) offline instead of the database.
        #[arg(long)]
        export: Option<PathBuf>,
        /// Only this practice (database mode).
        #[arg(long)]
        practice: Option<String>,
        /// Signed tree heads kept by a witness (one JSON head per line).
        /// Default in database mode: the configured witness file, if present.
        #[arg(long)]
        heads: Option<PathBuf>,
        /// Public key (hex or base64, or a file holding it). Default: derived
        /// from the configured signing key file.
        #[arg(long)]
        public_key: Option<String>,
    },
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    if let Some(Command::Config) = cli.command {
        print!("{TEMPLATE}");
        return std::process::ExitCode::SUCCESS;
    }
    let overrides = CliOverrides {
        listen: cli.listen,
        data_dir: cli.data_dir.clone(),
    };
    let settings = match Settings::load(cli.config.as_deref(), &overrides) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("alcove: configuration error: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    init_tracing(&settings);
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("alcove: cannot start the runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli.command.unwrap_or(Command::Serve), settings)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("alcove: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn init_tracing(settings: &Settings) {
    let filter = tracing_subscriber::EnvFilter::try_new(&settings.log.filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if settings.log.format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
}

async fn run(command: Command, settings: Settings) -> anyhow::Result<()> {
    if let Command::Audit {
        command:
            AuditCommand::Verify {
                export,
                practice,
                heads,
                public_key,
            },
    } = command
    {
        return alcove_server::audit::verify::run_cli(
            &settings, export, practice, heads, public_key,
        )
        .await;
    }
    let store = storage::open(&settings).await?;
    tracing::info!(storage = store.backend(), "database ready");
    match command {
        Command::Migrate => {
            println!("migrations applied ({})", store.backend());
        }
        Command::Init { new_practice } => {
            let link = match new_practice {
                Some(name) => {
                    Some(bootstrap::create_practice(&*store, &settings, &SystemClock, &name).await?)
                }
                None => bootstrap::ensure_practice(&*store, &settings, &SystemClock).await?,
            };
            match link {
                Some(link) => bootstrap::print_setup_link(&link),
                None => println!(
                    "a practice already exists; use `alcove init --new-practice NAME` to add one"
                ),
            }
        }
        Command::Serve => {
            let mut settings = settings;
            let listener = tokio::net::TcpListener::bind(settings.listen).await?;
            let addr = listener.local_addr()?;
            // With port 0 the real port is known only now; links and the
            // allowed origin must name it.
            if settings.public_url.is_none() {
                settings.public_url = Some(format!("http://{addr}"));
            }
            if let Some(link) = bootstrap::ensure_practice(&*store, &settings, &SystemClock).await?
            {
                bootstrap::print_setup_link(&link);
            }
            println!("Alcove is listening on http://{addr}");
            tracing::info!(%addr, "listening");
            // Tests of the binary move its clock through a file; a
            // deployment runs on the system's.
            let clock: std::sync::Arc<dyn alcove_server::clock::Clock> =
                match settings.testing.clock_file.clone() {
                    Some(file) => {
                        tracing::warn!(
                            "testing.clock_file is set: the clock follows a file (tests only)"
                        );
                        std::sync::Arc::new(alcove_server::clock::FileOffsetClock::new(file))
                    }
                    None => std::sync::Arc::new(SystemClock),
                };
            let app =
                alcove_server::Application::build(store.clone(), settings, clock, listener).await?;
            app.run_until(shutdown_signal()).await?;
            store.close().await;
        }
        Command::Config | Command::Audit { .. } => {}
    }
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}
