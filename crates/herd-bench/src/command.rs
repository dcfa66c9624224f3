//! The commands a bench run sends: IAMAT, WHATSAT and inline Redis SET lines for a pool of
//! client ids, each client at its own fixed place.

use std::io::Write as _;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::answer::Expect;

/// Which commands a [`CommandMaker`] produces.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Mix {
    /// Only IAMAT.
    Iamat,
    /// Only WHATSAT.
    Whatsat,
    /// WHATSAT with this probability, IAMAT otherwise.
    Mixed(f64),
    /// Only inline `SET key value` (for Redis).
    RedisSet,
}

/// Makes command lines, one at a time, into a caller's buffer.
#[derive(Debug, Clone)]
pub struct CommandMaker {
    /// Which commands to make.
    mix: Mix,
    /// Client ids are this prefix followed by a number.
    prefix: Arc<str>,
    /// Number of distinct client ids.
    clients: u64,
    /// WHATSAT radius in km, already formatted.
    radius: Arc<str>,
    /// WHATSAT result bound.
    bound: u32,
    /// Picks clients and the WHATSAT/IAMAT choice; seeded, so runs are repeatable.
    rng: StdRng,
    /// When set, clients are taken in order 0, 1, 2, ... instead of at random.
    next_in_order: Option<u64>,
    /// When set, IAMATs carry this time instead of the current clock.
    fixed_time: Option<Arc<str>>,
}

impl CommandMaker {
    /// A maker of `mix` commands for `clients` ids named `prefix0`, `prefix1`, ...
    pub fn new(mix: Mix, prefix: &str, clients: u64, radius: f64, bound: u32, seed: u64) -> Self {
        Self {
            mix,
            prefix: prefix.into(),
            clients: clients.max(1),
            radius: format!("{radius}").into(),
            bound,
            rng: StdRng::seed_from_u64(seed),
            next_in_order: None,
            fixed_time: None,
        }
    }

    /// The same settings with another random seed (one maker per connection).
    pub fn reseeded(&self, seed: u64) -> Self {
        Self {
            rng: StdRng::seed_from_u64(seed),
            ..self.clone()
        }
    }

    /// Makes IAMATs for clients in order from `first`, all with the one time `posix_time`:
    /// seeding every server with the same record floods nothing (equal is not newer).
    pub fn seeding(mut self, first: u64, posix_time: &str) -> Self {
        self.mix = Mix::Iamat;
        self.next_in_order = Some(first);
        self.fixed_time = Some(posix_time.into());
        self
    }

    /// Appends the next command line, terminator included, to `line` and says what answer
    /// it expects.
    pub fn write_next(&mut self, line: &mut Vec<u8>) -> Expect {
        let client = match &mut self.next_in_order {
            Some(next) => {
                *next += 1;
                *next - 1
            }
            None => self.rng.gen_range(0..self.clients),
        };
        let whatsat = match self.mix {
            Mix::Whatsat => true,
            Mix::Mixed(ratio) => self.rng.gen_bool(ratio.clamp(0.0, 1.0)),
            Mix::Iamat | Mix::RedisSet => false,
        };
        if self.mix == Mix::RedisSet {
            let _ = write!(line, "SET {}{client} {}\r\n", self.prefix, location(client));
            Expect::RedisOk
        } else if whatsat {
            let _ = writeln!(
                line,
                "WHATSAT {}{client} {} {}",
                self.prefix, self.radius, self.bound
            );
            Expect::Whatsat
        } else {
            self.write_iamat(client, line);
            Expect::Iamat
        }
    }

    /// Appends `IAMAT <id> <location> <time>\n` for client number `client`.
    pub fn write_iamat(&self, client: u64, line: &mut Vec<u8>) {
        let loc = location(client);
        let _ = match &self.fixed_time {
            Some(t) => writeln!(line, "IAMAT {}{client} {loc} {t}", self.prefix),
            None => writeln!(line, "IAMAT {}{client} {loc} {}", self.prefix, posix_now()),
        };
    }

    /// The id of client number `client`.
    pub fn client_id(&self, client: u64) -> String {
        format!("{}{client}", self.prefix)
    }
}

/// The current time as POSIX seconds with nine decimals.
pub fn posix_now() -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    format!("{}.{:09}", now.as_secs(), now.subsec_nanos())
}

/// A fixed place on land-ish latitudes for each client number, in ISO 6709 form.
pub fn location(client: u64) -> String {
    let lat = -50.0 + (client.wrapping_mul(7919) % 110_000) as f64 / 1000.0;
    let lng = -170.0 + (client.wrapping_mul(104_729) % 340_000) as f64 / 1000.0;
    format!("{lat:+.6}{lng:+.6}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeding_goes_in_order_with_one_time() {
        let maker = CommandMaker::new(Mix::Whatsat, "c", 10, 10.0, 5, 1);
        let mut seed = maker.seeding(3, "1.5");
        let mut line = Vec::new();
        assert_eq!(seed.write_next(&mut line), Expect::Iamat);
        seed.write_next(&mut line);
        let text = String::from_utf8(line).unwrap();
        let want = format!(
            "IAMAT c3 {} 1.5\nIAMAT c4 {} 1.5\n",
            location(3),
            location(4)
        );
        assert_eq!(text, want);
    }

    #[test]
    fn locations_are_iso6709_and_in_range() {
        assert_eq!(location(0), "-50.000000-170.000000");
        for c in [1, 77, 123_456_789] {
            let loc = location(c);
            let split = loc[1..].find(['+', '-']).unwrap() + 1;
            let lat: f64 = loc[..split].parse().unwrap();
            let lng: f64 = loc[split..].parse().unwrap();
            assert!((-90.0..=90.0).contains(&lat) && (-180.0..=180.0).contains(&lng));
        }
    }

    #[test]
    fn whatsat_and_set_lines() {
        let mut w = CommandMaker::new(Mix::Whatsat, "c", 1, 2.5, 3, 1);
        let mut line = Vec::new();
        assert_eq!(w.write_next(&mut line), Expect::Whatsat);
        assert_eq!(line, b"WHATSAT c0 2.5 3\n");
        let mut r = CommandMaker::new(Mix::RedisSet, "k", 1, 1.0, 1, 1);
        line.clear();
        assert_eq!(r.write_next(&mut line), Expect::RedisOk);
        assert!(line.starts_with(b"SET k0 ") && line.ends_with(b"\r\n"));
    }
}
