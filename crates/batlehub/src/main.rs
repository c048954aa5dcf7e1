#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = batlehub::cli::parse_args();
    match batlehub::cli::run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
