use std::path::PathBuf;
use std::time::Duration;

use super::env::Env;
use super::*;

/// One server, so that a case's own lines come first and the topology is valid.
const ONE: &str = "[[servers]]\nname='A'\nlisten='127.0.0.1:1'\n";

/// The message for `text`, checked with `env` (not the process environment).
fn problem_with(text: &str, env: Env) -> String {
    parse_in(text, "t.toml", |_| env).unwrap_err().to_string()
}

/// A secret of exactly the shortest length taken.
const SECRET: &[u8; 32] = b"0123456789abcdef0123456789abcdef";

/// The message for `text` when the secret variable holds `secret` (`None`: not set).
fn secret_problem(text: &str, secret: Option<&[u8]>) -> String {
    let env = Env {
        api_key_set: true,
        secret: secret.map(<[u8]>::to_vec),
        previous_secret: None,
        api_token: None,
    };
    problem_with(text, env)
}

fn problem(text: &str) -> String {
    problem_with(
        text,
        Env {
            api_key_set: true,
            secret: None,
            previous_secret: None,
            api_token: None,
        },
    )
}

#[test]
fn builtin_has_the_2023_topology() {
    let c = Config::builtin();
    assert_eq!(c.names(), ["Bailey", "Bona", "Campbell", "Clark", "Jaquez"]);
    assert_eq!(c.server("Clark").unwrap().neighbours, ["Bona", "Jaquez"]);
    assert_eq!(c.server("Bailey").unwrap().listen.port(), 10000);
    assert_eq!(c.hops_from("Bailey")["Jaquez"], 2);
    assert_eq!(c.hops_from("Bailey")["Clark"], 2);
    assert_eq!(c.places.provider, ProviderKind::Offline);
}

#[test]
fn keys_left_out_keep_the_documented_defaults() {
    let c = Config::parse(ONE, "t.toml").unwrap();
    assert_eq!(c.places, PlacesConfig::default());
    assert_eq!(c.places.api_key_env, "GOOGLE_PLACES_API_KEY");
    assert_eq!(c.places.timeout, Duration::from_secs(5));
    assert_eq!(c.places.cache_ttl, Duration::from_secs(300));
    assert_eq!(
        (
            c.places.cache_capacity,
            c.places.max_concurrent,
            c.places.rate_per_sec
        ),
        (10_000, 64, 50)
    );
    assert_eq!(
        c.storage,
        StorageConfig {
            dir: PathBuf::from("herd-data"),
            fsync: FsyncPolicy::Batch,
            forget_after: None,
            log_queue_bytes: 64 * 1024 * 1024,
            log_max_bytes: 64 * 1024 * 1024,
            log_keep: 3,
        }
    );
    assert_eq!(
        c.herd,
        HerdConfig {
            secret_env: None,
            previous_secret_env: None,
            api_token_env: None,
            tls: None,
            insecure_links: false,
            catch_up: true,
            max_line: 65_536,
            max_connections: 16_384,
            max_clock_ahead: Duration::from_secs(86_400),
            max_client_id: 256,
            max_clients: 1_000_000,
            client_write_timeout: Duration::from_secs(30),
            client_output_limit: 16 * 1024 * 1024,
            client_idle_timeout: None,
            shutdown_grace: Duration::from_secs(5),
            link_outbox_bytes: 64 * 1024 * 1024,
            broadcast: BroadcastMode::Flood,
            graft_after: Duration::from_millis(50),
        }
    );
}

#[test]
fn every_key_is_read() {
    let text = format!(
        "[places]\nprovider='google-legacy'\nbase_url='http://127.0.0.1:9/'\napi_key_env='K'\n\
         timeout='2s'\ncache_ttl='1m'\ncache_capacity=5\nmax_concurrent=6\nrate_per_sec=7\n\
         [storage]\ndir='d'\nfsync='never'\nforget_after='24h'\nlog_queue_bytes=65536\n\
         log_max_bytes=4096\nlog_keep=0\n\
         [herd]\nsecret_env='S'\ncatch_up=false\nmax_line=64\nmax_connections=8\n\
         max_clock_ahead='2d'\nmax_client_id=9\nmax_clients=10\nclient_write_timeout='3s'\n\
         client_output_limit=65536\nclient_idle_timeout='5m'\nshutdown_grace='0s'\nlink_outbox_bytes=1048576\n\
         broadcast='tree'\ngraft_after='20ms'\n{ONE}"
    );
    let env = Env {
        api_key_set: true,
        secret: Some(SECRET.to_vec()),
        previous_secret: None,
        api_token: None,
    };
    let c = parse_in(&text, "t.toml", |_| env).unwrap();
    assert_eq!(
        c.places,
        PlacesConfig {
            provider: ProviderKind::GoogleLegacy,
            base_url: Some("http://127.0.0.1:9".into()),
            api_key_env: "K".into(),
            timeout: Duration::from_secs(2),
            cache_ttl: Duration::from_secs(60),
            cache_capacity: 5,
            max_concurrent: 6,
            rate_per_sec: 7,
        }
    );
    assert_eq!(c.storage.dir, PathBuf::from("d"));
    assert_eq!(c.storage.fsync, FsyncPolicy::Never);
    assert_eq!(c.storage.forget_after, Some(Duration::from_secs(24 * 3600)));
    assert_eq!(
        (
            c.storage.log_queue_bytes,
            c.storage.log_max_bytes,
            c.storage.log_keep
        ),
        (65_536, 4096, 0)
    );
    assert_eq!(c.herd.secret_env.as_deref(), Some("S"));
    assert_eq!(c.secret.as_ref().map(Secret::bytes), Some(&SECRET[..]));
    assert!(!c.herd.catch_up);
    assert_eq!((c.herd.max_line, c.herd.max_connections), (64, 8));
    assert_eq!(
        (
            c.herd.client_write_timeout,
            c.herd.client_output_limit,
            c.herd.client_idle_timeout,
            c.herd.shutdown_grace
        ),
        (
            Duration::from_secs(3),
            65_536,
            Some(Duration::from_secs(300)),
            Duration::ZERO
        )
    );
    assert_eq!(c.herd.link_outbox_bytes, 1 << 20);
    assert_eq!(
        (c.herd.broadcast(), c.herd.graft_after),
        (
            herd_core::replica::Broadcast::Tree,
            Duration::from_millis(20)
        )
    );
    assert_eq!(
        c.herd.limits(),
        herd_core::replica::Limits {
            max_clock_ahead: Some(Duration::from_secs(2 * 86_400)),
            max_client_id: 9,
            max_clients: 10,
        }
    );
}

#[test]
fn links_named_on_one_side_are_symmetric() {
    let c = Config::parse(
        "[[servers]]\nname='A'\nlisten='127.0.0.1:1'\nneighbours=['B']\n[[servers]]\nname='B'\nlisten='127.0.0.1:2'\n",
        "t.toml",
    )
    .unwrap();
    assert_eq!(c.server("B").unwrap().neighbours, ["A"]);
}

#[test]
fn a_bad_duration_names_file_line_and_field() {
    assert_eq!(
        problem(&format!("{ONE}[places]\n\ntimeout = \"5 parsecs\"\n")),
        "t.toml:6: places.timeout: \"5 parsecs\" is not a duration like \"5s\" or \"24h\" \
         (unknown time unit \"parsecs\", supported units: ns, us/µs, ms, sec, min, hours, days, \
         weeks, months, years (and few variations))"
    );
    assert!(problem("[storage]\nforget_after = 'soon'\n")
        .starts_with("t.toml:2: storage.forget_after: \"soon\" is not a duration like"));
    assert!(problem("[herd]\nmax_clock_ahead = 'a day'\n")
        .starts_with("t.toml:2: herd.max_clock_ahead: \"a day\" is not a duration like"));
    assert!(problem("[herd]\nshutdown_grace = 'soon'\n")
        .starts_with("t.toml:2: herd.shutdown_grace: \"soon\" is not a duration like"));
    assert!(problem("[places]\ncache_ttl = '1 fortnight'\n")
        .starts_with("t.toml:2: places.cache_ttl: \"1 fortnight\" is not a duration like"));
    // Not a string at all: serde's own words say what was expected.
    assert_eq!(
        problem("[places]\ntimeout = 5\n"),
        "t.toml:2: places.timeout: invalid type: integer `5`, expected a duration"
    );
}

#[test]
fn an_unknown_word_names_the_choices() {
    assert_eq!(
        problem("[places]\nprovider = 'bing'\n"),
        "t.toml:2: places.provider: unknown provider \"bing\" \
         (expected \"offline\", \"google\" or \"google-legacy\")"
    );
    assert_eq!(
        problem("\n[storage]\nfsync = \"sometimes\"\n"),
        "t.toml:3: storage.fsync: unknown policy \"sometimes\" \
         (expected \"always\", \"batch\" or \"never\")"
    );
}

#[test]
fn an_unknown_key_is_named_with_its_path() {
    assert_eq!(
        problem(&format!("{ONE}colour='blue'\n")),
        "t.toml:4: servers[0].colour: unknown field `colour`, expected one of `name`, `listen`, `peer`, `address`, `neighbours`, `http`, `cert`, `key`"
    );
    assert!(problem("[herd]\nmax_lines = 100\n")
        .starts_with("t.toml:2: herd.max_lines: unknown field `max_lines`"));
    assert!(problem("[colours]\n").starts_with("t.toml:1: colours: unknown field `colours`"));
}

#[test]
fn shape_errors_name_the_line() {
    assert_eq!(
        problem("this is not toml"),
        "t.toml:1: (toml): expected `.`, `=`"
    );
    assert_eq!(
        problem(&format!("{ONE}[[servers]]\nname='B'\n")),
        "t.toml:4: servers[1]: missing field `listen`"
    );
    assert_eq!(
        problem("[herd]\nmax_line = -1\n"),
        "t.toml:2: herd.max_line: invalid value: integer `-1`, expected usize"
    );
}

#[test]
fn each_range_check_names_its_field() {
    assert_eq!(
        problem(&format!("[places]\nbase_url = 'ftp://x'\n{ONE}")),
        "t.toml:2: places.base_url: \"ftp://x\" is not an http:// or https:// address"
    );
    for field in ["cache_capacity", "max_concurrent", "rate_per_sec"] {
        assert_eq!(
            problem(&format!("[places]\n{field} = 0\n{ONE}")),
            format!("t.toml:2: places.{field}: must be at least 1")
        );
    }
    for field in ["max_connections", "max_client_id", "max_clients"] {
        assert_eq!(
            problem(&format!("[herd]\n{field} = 0\n{ONE}")),
            format!("t.toml:2: herd.{field}: must be at least 1")
        );
    }
    assert_eq!(
        problem(&format!(
            "[herd]\ncatch_up = true\nmax_clock_ahead = '0s'\n{ONE}"
        )),
        "t.toml:3: herd.max_clock_ahead: must be more than 0s \
         (a client's clock is never exactly the server's)"
    );
    assert_eq!(
        problem(&format!("[herd]\nclient_write_timeout = '0s'\n{ONE}")),
        "t.toml:2: herd.client_write_timeout: must be more than 0s \
         (a socket never takes a large answer at once)"
    );
    assert_eq!(
        problem(&format!("[herd]\nclient_idle_timeout = '0s'\n{ONE}")),
        "t.toml:2: herd.client_idle_timeout: must be more than 0s \
         (leave it out for no idle timeout)"
    );
    assert_eq!(
        problem(&format!("[herd]\nclient_output_limit = 1000\n{ONE}")),
        "t.toml:2: herd.client_output_limit: 1000 is too small (at least 65536 bytes)"
    );
    assert_eq!(
        problem(&format!("[herd]\nlink_outbox_bytes = 1000\n{ONE}")),
        "t.toml:2: herd.link_outbox_bytes: 1000 is too small (at least 1048576 bytes)"
    );
    assert_eq!(
        problem(&format!("[herd]\ngraft_after = '0s'\n{ONE}")),
        "t.toml:2: herd.graft_after: 0s is out of range (1ms to 10s: a record announced \
         and missing is asked for after it)"
    );
    assert!(problem(&format!("[herd]\nbroadcast = 'gossip'\n{ONE}")).starts_with("t.toml:2"));
    assert_eq!(
        problem(&format!("[herd]\nmax_line = 63\n{ONE}")),
        "t.toml:2: herd.max_line: 63 is too small (at least 64 bytes)"
    );
    assert_eq!(
        problem(&format!("[storage]\nlog_queue_bytes = 1000\n{ONE}")),
        "t.toml:2: storage.log_queue_bytes: 1000 is too small (at least 65536 bytes)"
    );
    assert_eq!(
        problem(&format!("[storage]\nlog_queue_bytes = 2000000000\n{ONE}")),
        "t.toml:2: storage.log_queue_bytes: 2000000000 is too large (at most 1073741824 bytes)"
    );
    assert_eq!(
        problem(&format!("\n[storage]\nlog_max_bytes = 4095\n{ONE}")),
        "t.toml:3: storage.log_max_bytes: 4095 is too small (at least 4096 bytes)"
    );
    assert_eq!(
        problem(&format!("[storage]\nlog_keep = 101\n{ONE}")),
        "t.toml:2: storage.log_keep: 101 is too large (at most 100 files)"
    );
    assert_eq!(
        problem("[storage]\nlog_keep = -1\n"),
        "t.toml:2: storage.log_keep: invalid value: integer `-1`, expected usize"
    );
}

#[test]
fn a_google_provider_needs_its_key_variable_set() {
    let unset = Env {
        api_key_set: false,
        secret: None,
        previous_secret: None,
        api_token: None,
    };
    assert_eq!(
        problem_with(
            &format!("[places]\nprovider='google'\napi_key_env='K'\n{ONE}"),
            unset.clone()
        ),
        "t.toml:3: places.api_key_env: the \"google\" provider needs a Google API key, \
         but the environment variable K is not set"
    );
    // The default variable is not written: the message points at the section.
    assert_eq!(
        problem_with(
            &format!("\n[places]\nprovider='google-legacy'\n{ONE}"),
            unset.clone()
        ),
        "t.toml:2: places.api_key_env: the \"google-legacy\" provider needs a Google API key, \
         but the environment variable GOOGLE_PLACES_API_KEY is not set"
    );
    assert!(
        parse_in(ONE, "t.toml", |_| unset).is_ok(),
        "offline needs no key"
    );
    // Config::parse reads the real environment.
    assert!(Config::parse(
        &format!("[places]\nprovider='google'\napi_key_env='HERD_TEST_SURELY_UNSET'\n{ONE}"),
        "t.toml"
    )
    .unwrap_err()
    .to_string()
    .contains("HERD_TEST_SURELY_UNSET is not set"));
}

#[test]
fn each_topology_check_names_server_field_and_line() {
    let b = "[[servers]]\nname='B'\nlisten='127.0.0.1:2'\n";
    assert_eq!(problem(""), "t.toml: servers: no [[servers]] are defined");
    assert_eq!(
        problem(&format!("{ONE}neighbours=['Z']\n")),
        "t.toml:4: servers[0].neighbours: unknown server \"Z\" (known: A)"
    );
    assert_eq!(
        problem(&format!("{ONE}neighbours=['A']\n")),
        "t.toml:4: servers[0].neighbours: \"A\" cannot talk with itself"
    );
    assert_eq!(
        problem(&format!("{ONE}{ONE}")),
        "t.toml:5: servers[1].name: duplicate name \"A\" (also servers[0])"
    );
    assert_eq!(
        problem(&format!("{ONE}{}", b.replace(":2", ":1"))),
        "t.toml:6: servers[1].listen: duplicate address 127.0.0.1:1 (also servers[0])"
    );
    assert_eq!(
        problem("[[servers]]\nname='A'\nlisten='nowhere'\n"),
        "t.toml:3: servers[0].listen: \"nowhere\" is not an address like 127.0.0.1:10000"
    );
    for bad in ["", "*A", "A B", "A=B"] {
        assert_eq!(
            problem(&format!(
                "{b}[[servers]]\nname='{bad}'\nlisten='127.0.0.1:1'\n"
            )),
            format!(
                "t.toml:5: servers[1].name: \"{bad}\" is not a name \
                 (one word: no white space, no '=', not starting with '*')"
            )
        );
    }
}

#[test]
fn an_unreadable_file_is_named() {
    let e = Config::load(std::path::Path::new("/no/such/herd.toml")).unwrap_err();
    assert!(e
        .to_string()
        .starts_with("/no/such/herd.toml: (file): cannot read it: "));
    assert_eq!(e.line, None);
}

#[test]
fn links_have_their_own_port_by_default_ten_thousand_above() {
    let c = Config::builtin();
    let ports: Vec<u16> = c.servers.iter().map(|s| s.peer.port()).collect();
    assert_eq!(ports, [20000, 20001, 20002, 20003, 20004]);
    let own = Config::parse(
        "[[servers]]\nname='A'\nlisten='127.0.0.1:1'\npeer='127.0.0.2:7'\n",
        "t.toml",
    )
    .unwrap();
    assert_eq!(own.servers[0].peer, "127.0.0.2:7".parse().unwrap());
}

#[test]
fn a_default_peer_port_past_65535_or_a_taken_one_is_refused() {
    let high = problem("[[servers]]\nname='A'\nlisten='127.0.0.1:60000'\n");
    assert!(high.contains("servers[0].peer:"), "{high}");
    assert!(high.contains("70000, past 65535"), "{high}");
    let taken = problem(
        "[[servers]]\nname='A'\nlisten='127.0.0.1:1'\n[[servers]]\nname='B'\nlisten='127.0.0.1:10001'\n",
    );
    assert!(
        taken.contains("servers[1].listen: duplicate address 127.0.0.1:10001"),
        "{taken}"
    );
    let bad = problem("[[servers]]\nname='A'\nlisten='127.0.0.1:1'\npeer='x'\n");
    assert!(
        bad.contains("servers[0].peer: \"x\" is not an address"),
        "{bad}"
    );
}

#[test]
fn a_named_secret_must_be_set_and_long_enough() {
    let text = format!("[herd]\nsecret_env = 'HERD_SECRET'\n{ONE}");
    assert_eq!(
        secret_problem(&text, None),
        "t.toml:2: herd.secret_env: the environment variable HERD_SECRET is not set, so the \
         servers have no secret to prove (`herd secret gen` prints a fresh 256-bit one)"
    );
    assert_eq!(
        secret_problem(&text, Some(b"")),
        "t.toml:2: herd.secret_env: the environment variable HERD_SECRET is empty, so the \
         servers have no secret to prove (`herd secret gen` prints a fresh 256-bit one)"
    );
    assert_eq!(
        secret_problem(&text, Some(&SECRET[..31])),
        "t.toml:2: herd.secret_env: the secret in HERD_SECRET is 31 bytes, fewer than 32: it \
         could be guessed from one handshake (`herd secret gen` prints a fresh 256-bit one)"
    );
    let env = Env {
        api_key_set: true,
        secret: Some(SECRET.to_vec()),
        previous_secret: None,
        api_token: None,
    };
    let c = parse_in(&text, "t.toml", |_| env).unwrap();
    assert_eq!(c.secret.unwrap().bytes(), SECRET);
}

#[test]
fn beyond_loopback_a_herd_needs_a_secret_or_says_insecure_links() {
    let beyond = [
        (
            "[[servers]]\nname='A'\nlisten='0.0.0.0:1'\naddress='10.0.0.1'\n",
            "servers[0].listen: 0.0.0.0:1",
        ),
        (
            "[[servers]]\nname='A'\nlisten='[::]:1'\naddress='a.herd.internal'\n",
            "servers[0].listen: [::]:1",
        ),
        (
            "[[servers]]\nname='A'\nlisten='127.0.0.1:1'\npeer='192.168.1.20:2'\n",
            "servers[0].peer: 192.168.1.20:2",
        ),
    ];
    for (servers, field) in beyond {
        let message = problem(servers);
        assert!(
            message.starts_with("t.toml:") && message.contains(field),
            "{message}"
        );
        assert!(
            message.ends_with(
                "is beyond loopback and the herd has no secret: anyone who reaches it could \
                 join the herd; set [herd] secret_env (`herd secret gen` prints a fresh 256-bit \
                 one) or a herd CA in [herd.tls] (`herd certs init`), or insecure_links = true \
                 to run without one"
            ),
            "{message}"
        );
        // Said on purpose, it runs without one; with a secret, it runs with it.
        let insecure = format!("[herd]\ninsecure_links = true\n{servers}");
        assert!(Config::parse(&insecure, "t.toml").unwrap().secret.is_none());
        let sealed = format!("[herd]\nsecret_env = 'S'\n{servers}");
        let env = Env {
            api_key_set: true,
            secret: Some(SECRET.to_vec()),
            previous_secret: None,
            api_token: None,
        };
        assert!(parse_in(&sealed, "t.toml", |_| env).is_ok());
    }
    // Loopback only (IPv4, IPv6, IPv4-mapped), no secret: the classic graders' way.
    for listen in ["127.0.0.1:1", "[::1]:1", "[::ffff:127.0.0.1]:1"] {
        let text = format!("[[servers]]\nname='A'\nlisten='{listen}'\n");
        assert!(Config::parse(&text, "t.toml").is_ok(), "{listen}");
    }
    assert!(Config::builtin().secret.is_none());
}

/// `text` (whose `[herd]` says `secret_env = 'S'`) parsed with a good secret in `S`.
fn with_secret(text: &str) -> Result<Config, ConfigError> {
    parse_in(text, "t.toml", |_| Env {
        api_key_set: true,
        secret: Some(SECRET.to_vec()),
        previous_secret: None,
        api_token: None,
    })
}

#[test]
fn neighbours_reach_a_server_by_its_address_or_else_its_peer_address() {
    let c = with_secret(
        "[herd]\nsecret_env='S'\n\
         [[servers]]\nname='A'\nlisten='0.0.0.0:10000'\naddress='Bailey.Herd.internal'\n\
         [[servers]]\nname='B'\nlisten='0.0.0.0:10000'\naddress='bona.herd.internal:30000'\n\
         [[servers]]\nname='C'\nlisten='[::]:10000'\naddress='10.0.0.3'\n\
         [[servers]]\nname='D'\nlisten='127.0.0.1:10003'\n\
         [[servers]]\nname='E'\nlisten='127.0.0.1:10004'\naddress='[::1]:20009'\n",
    )
    .unwrap();
    let reach: Vec<String> = c.servers.iter().map(|s| s.reach.to_string()).collect();
    assert_eq!(
        reach,
        [
            "bailey.herd.internal:20000",
            "bona.herd.internal:30000",
            "10.0.0.3:20000",
            "127.0.0.1:20003",
            "[::1]:20009"
        ]
    );
    assert_eq!(c.servers[2].peer, "[::]:20000".parse().unwrap());
    assert!(c
        .describe()
        .contains("0.0.0.0:20000 reached at bailey.herd.internal:20000"));
}

#[test]
fn a_wildcard_peer_needs_an_address_and_addresses_must_be_names_or_ips() {
    let wildcard =
        with_secret("[herd]\nsecret_env='S'\n[[servers]]\nname='A'\nlisten='0.0.0.0:1'\n")
            .unwrap_err()
            .to_string();
    assert!(
        wildcard.contains("servers[0].peer: 0.0.0.0:10001 binds every interface"),
        "{wildcard}"
    );
    for bad in ["bad host", "host:0", "host:70000", "a..b", ":20000", ""] {
        let text = format!("{ONE}address='{bad}'\n");
        let message = problem(&text);
        assert!(
            message.contains("servers[0].address: ") && message.contains("is not an address"),
            "{bad:?}: {message}"
        );
    }
}

#[test]
fn two_servers_reached_at_one_address_are_refused_whatever_its_spelling() {
    let same = problem(
        "[[servers]]\nname='A'\nlisten='127.0.0.1:1'\n\
         [[servers]]\nname='B'\nlisten='127.0.0.1:2'\naddress='localhost:10001'\n",
    );
    assert!(
        same.contains("servers[1].address: localhost:10001 reaches 127.0.0.1:10001, as servers[0] (127.0.0.1:10001) does"),
        "{same}"
    );
}

#[test]
fn an_http_address_is_parsed_and_must_not_be_taken() {
    let ok = Config::parse(&format!("{ONE}http='127.0.0.1:11000'\n"), "t.toml").unwrap();
    assert_eq!(ok.servers[0].http, Some("127.0.0.1:11000".parse().unwrap()));
    assert!(ok.describe().contains("http on 127.0.0.1:11000"));
    assert!(problem(&format!("{ONE}http='127.0.0.1:1'\n"))
        .contains("servers[0].http: duplicate address 127.0.0.1:1 "));
    assert!(problem(&format!("{ONE}http='nowhere'\n"))
        .contains("servers[0].http: \"nowhere\" is not an address"));
}

#[test]
fn a_previous_secret_is_optional_checked_when_set_and_needs_a_current_one() {
    let text = format!("[herd]\nsecret_env = 'S'\nprevious_secret_env = 'P'\n{ONE}");
    let env = |previous: Option<&[u8]>| Env {
        api_key_set: true,
        secret: Some(SECRET.to_vec()),
        previous_secret: previous.map(<[u8]>::to_vec),
        api_token: None,
    };
    // Unset: one secret.
    let c = parse_in(&text, "t.toml", |_| env(None)).unwrap();
    assert_eq!(c.secrets(), vec![SECRET.to_vec()]);
    // Set: current first, then the previous one.
    let old = [b'o'; 40];
    let c = parse_in(&text, "t.toml", |_| env(Some(&old))).unwrap();
    assert_eq!(c.secrets(), vec![SECRET.to_vec(), old.to_vec()]);
    // Set but short: refused like the current one.
    let e = parse_in(&text, "t.toml", |_| env(Some(b"short"))).unwrap_err();
    assert!(
        e.to_string()
            .contains("herd.previous_secret_env: the secret in P is 5 bytes"),
        "{e}"
    );
    // Without a current secret it means nothing: refused.
    let text = format!("[herd]\nprevious_secret_env = 'P'\n{ONE}");
    let e = parse_in(&text, "t.toml", |_| Env {
        api_key_set: true,
        secret: None,
        previous_secret: Some(old.to_vec()),
        api_token: None,
    })
    .unwrap_err();
    assert!(e.to_string().contains("needs a current one"), "{e}");
}

#[test]
fn a_herd_ca_lets_a_herd_listen_beyond_loopback_and_a_missing_ca_file_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("herd.toml");
    let file = file.to_str().unwrap();
    let text =
        "[herd.tls]\nca = 'certs/ca.crt'\ncert = 'certs/{name}.crt'\nkey = 'certs/{name}.key'\n\
                [[servers]]\nname = 'Clark'\nlisten = '0.0.0.0:1'\npeer = '10.0.0.1:2'\n";
    let e = Config::parse(text, file).unwrap_err().to_string();
    assert!(e.contains("herd.tls.ca: cannot read"), "{e}");
    std::fs::create_dir(dir.path().join("certs")).unwrap();
    let ca = rcgen::generate_simple_self_signed(vec!["ca".to_string()]).unwrap();
    std::fs::write(dir.path().join("certs/ca.crt"), ca.cert.pem()).unwrap();
    let c = Config::parse(text, file).unwrap();
    let tls = c.tls.as_ref().unwrap();
    assert_eq!(tls.roots.len(), 1);
    assert_eq!(
        c.servers[0].cert.as_deref(),
        Some(dir.path().join("certs/Clark.crt").as_path())
    );
    assert!(c.secret.is_none());
    // A name a certificate cannot carry is refused up front.
    let bad = text.replace("'Clark'", "'Cl_ark!'");
    let e = Config::parse(&bad, file).unwrap_err().to_string();
    assert!(
        e.contains("cannot be named by a certificate") || e.contains("not a name"),
        "{e}"
    );
}
