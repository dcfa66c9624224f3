//! The herd that runs when no config file is given.

/// The built-in herd: the 2023 topology of PROTOCOL.md on 127.0.0.1:10000-10004, HTTP
/// (health, metrics, API, dashboard) on 127.0.0.1:11000-11004.
pub const BUILTIN: &str = r#"# The built-in herd: the 2023 topology of the classic assignment.
[herd]
# Five servers share one process and its open-file limit: 2,048 clients each fits a hard
# limit of 20,000 (a server of its own defaults to 16,384).
max_connections = 2048

[places]
provider = "offline"                  # "offline" | "google" | "google-legacy"

[storage]
dir = "herd-data"
fsync = "batch"

[[servers]]
name = "Bailey"
listen = "127.0.0.1:10000"
http = "127.0.0.1:11000"
neighbours = ["Bona", "Campbell"]

[[servers]]
name = "Bona"
listen = "127.0.0.1:10001"
http = "127.0.0.1:11001"
neighbours = ["Bailey", "Campbell", "Clark"]

[[servers]]
name = "Campbell"
listen = "127.0.0.1:10002"
http = "127.0.0.1:11002"
neighbours = ["Bailey", "Bona", "Jaquez"]

[[servers]]
name = "Clark"
listen = "127.0.0.1:10003"
http = "127.0.0.1:11003"
neighbours = ["Bona", "Jaquez"]

[[servers]]
name = "Jaquez"
listen = "127.0.0.1:10004"
http = "127.0.0.1:11004"
neighbours = ["Campbell", "Clark"]
"#;
