//! The place table: the built-in data file, decompressed and parsed into compact records.
//!
//! The file (made by `scripts/build_places.py`) is gzip-compressed UTF-8 text, one record a
//! line, fields split by TAB: a `herd-places 1` header, then `C code name` country lines,
//! `R country admin1 name` region lines and `P id lat lng population country admin1 name`
//! place lines. Names stay in the one decompressed string and records point into it, so
//! parsing allocates nothing per place.

use std::collections::HashMap;
use std::io::Read;
use std::ops::Range;

use flate2::read::GzDecoder;

use super::OfflineError;

/// The first line a data file must have.
const HEADER: &str = "herd-places\t1";
/// Marks "no region name known" in [`PlaceRecord::region`].
const NO_REGION: u16 = u16::MAX;

/// One populated place, as stored in memory.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PlaceRecord {
    /// GeoNames id, the stable identity behind `place_id` and the last ranking key.
    pub id: u32,
    /// Latitude in decimal degrees.
    pub lat: f64,
    /// Longitude in decimal degrees.
    pub lng: f64,
    /// Inhabitants, the first ranking key ("prominence").
    pub population: u32,
    /// Byte range of the name in [`PlaceTable::text`].
    name: (u32, u32),
    /// Index into [`PlaceTable::countries`].
    country: u16,
    /// Index into [`PlaceTable::regions`], or [`NO_REGION`].
    region: u16,
}

/// All places with the names of their countries and regions.
#[derive(Debug)]
pub(crate) struct PlaceTable {
    /// The decompressed file; every name is a slice of it.
    text: String,
    /// Country names (byte ranges into `text`); an empty range when the country is unnamed.
    countries: Vec<Range<usize>>,
    /// Region names (byte ranges into `text`).
    regions: Vec<Range<usize>>,
    /// The places, in file order.
    pub places: Vec<PlaceRecord>,
}

impl PlaceTable {
    /// Decompresses and parses a gzip-compressed data file.
    ///
    /// # Errors
    ///
    /// [`OfflineError::Decompress`] when the bytes are not gzip, [`OfflineError::NotUtf8`] and
    /// [`OfflineError::Parse`] when the content is not a data file.
    pub fn from_gzip(bytes: &[u8]) -> Result<Self, OfflineError> {
        // The uncompressed size is in the gzip trailer (modulo 4 GiB); use it to size the buffer.
        let hint = bytes
            .len()
            .checked_sub(4)
            .and_then(|at| bytes.get(at..))
            .map_or(0, |tail| {
                u32::from_le_bytes([tail[0], tail[1], tail[2], tail[3]]) as usize
            });
        let mut raw = Vec::with_capacity(hint.min(256 << 20));
        GzDecoder::new(bytes)
            .read_to_end(&mut raw)
            .map_err(OfflineError::Decompress)?;
        Self::from_text(String::from_utf8(raw)?)
    }

    /// Parses the uncompressed text of a data file.
    ///
    /// # Errors
    ///
    /// [`OfflineError::Parse`] naming the first bad line.
    pub fn from_text(text: String) -> Result<Self, OfflineError> {
        let mut builder = Builder::default();
        let mut line_start = 0;
        for (index, line) in text.split_inclusive('\n').enumerate() {
            let start = line_start;
            line_start += line.len();
            let line = line.strip_suffix('\n').unwrap_or(line);
            if index == 0 {
                if line != HEADER {
                    return Err(OfflineError::Parse {
                        line: 1,
                        reason: "not a herd places file",
                    });
                }
                continue;
            }
            if !line.is_empty() {
                builder.add(Line::split(index + 1, start, line)?)?;
            }
        }
        if text.is_empty() {
            return Err(OfflineError::Parse {
                line: 1,
                reason: "empty file",
            });
        }
        let Builder {
            countries,
            regions,
            places,
            ..
        } = builder;
        Ok(Self {
            text,
            countries,
            regions,
            places,
        })
    }

    /// The name of `place`.
    pub fn name(&self, place: &PlaceRecord) -> &str {
        let (start, len) = (place.name.0 as usize, place.name.1 as usize);
        &self.text[start..start + len]
    }

    /// The name of the region `place` lies in, when the data names it.
    pub fn region(&self, place: &PlaceRecord) -> Option<&str> {
        self.regions
            .get(usize::from(place.region))
            .map(|r| &self.text[r.clone()])
    }

    /// The name of the country `place` lies in, when the data names it.
    pub fn country(&self, place: &PlaceRecord) -> Option<&str> {
        let range = self.countries.get(usize::from(place.country))?;
        Some(&self.text[range.clone()]).filter(|name| !name.is_empty())
    }
}

/// One line of the file, split into its leading fields and the byte range of its name.
struct Line<'t> {
    /// 1-based line number, for error messages.
    number: usize,
    /// The fields before the name.
    fields: std::str::Split<'t, char>,
    /// Where the name (the last field) lies in the whole text.
    name: Range<usize>,
}

impl<'t> Line<'t> {
    /// Splits `line`, which starts at byte `start` of the text.
    fn split(number: usize, start: usize, line: &'t str) -> Result<Self, OfflineError> {
        let name_at = line.rfind('\t').ok_or(OfflineError::Parse {
            line: number,
            reason: "no fields",
        })?;
        Ok(Self {
            number,
            fields: line[..name_at].split('\t'),
            name: start + name_at + 1..start + line.len(),
        })
    }

    /// The error `reason` on this line.
    fn bad(&self, reason: &'static str) -> OfflineError {
        OfflineError::Parse {
            line: self.number,
            reason,
        }
    }

    /// The next field, or an error saying which one is missing.
    fn next(&mut self, what: &'static str) -> Result<&'t str, OfflineError> {
        self.fields.next().ok_or(OfflineError::Parse {
            line: self.number,
            reason: what,
        })
    }

    /// The next field parsed as a `T`, or an error saying it is `bad`.
    fn parse<T: std::str::FromStr>(&mut self, bad: &'static str) -> Result<T, OfflineError> {
        self.next(bad)?.parse().map_err(|_| self.bad(bad))
    }
}

/// A table under construction, with the code lookups that borrow the text.
#[derive(Default)]
struct Builder<'t> {
    /// Country names, by index.
    countries: Vec<Range<usize>>,
    /// Region names, by index.
    regions: Vec<Range<usize>>,
    /// Places so far.
    places: Vec<PlaceRecord>,
    /// Country index by ISO code.
    country_by_code: HashMap<&'t str, u16>,
    /// Region index by country index and admin1 code.
    region_by_code: HashMap<(u16, &'t str), u16>,
    /// The last country code looked up and its index: places come grouped by country.
    last_country: Option<(&'t str, u16)>,
}

impl<'t> Builder<'t> {
    /// Adds the record on `line`.
    fn add(&mut self, mut line: Line<'t>) -> Result<(), OfflineError> {
        match line.next("record kind")? {
            "C" => {
                let code = line.next("country code")?;
                let index = self.new_country(&line)?;
                self.countries[usize::from(index)] = line.name.clone();
                self.country_by_code.insert(code, index);
            }
            "R" => {
                let country = line.next("country code")?;
                let admin1 = line.next("admin1 code")?;
                let country = *self
                    .country_by_code
                    .get(country)
                    .ok_or(line.bad("unknown country"))?;
                let index = u16::try_from(self.regions.len())
                    .ok()
                    .filter(|&index| index != NO_REGION)
                    .ok_or(line.bad("too many regions"))?;
                self.regions.push(line.name.clone());
                self.region_by_code.insert((country, admin1), index);
            }
            "P" => self.add_place(line)?,
            _ => return Err(line.bad("unknown record kind")),
        }
        Ok(())
    }

    /// Adds the place on `line` (after its `P`).
    fn add_place(&mut self, mut line: Line<'t>) -> Result<(), OfflineError> {
        let id = line.parse("bad id")?;
        let lat: f64 = line.parse("bad latitude")?;
        let lng: f64 = line.parse("bad longitude")?;
        if !(-90.0..=90.0).contains(&lat) || !(-180.0..=180.0).contains(&lng) {
            return Err(line.bad("coordinates out of range"));
        }
        let population = line.parse("bad population")?;
        let code = line.next("country code")?;
        let country = self.country_of(&line, code)?;
        let admin1 = line.next("admin1 code")?;
        let region = if self.region_by_code.is_empty() {
            NO_REGION
        } else {
            self.region_by_code
                .get(&(country, admin1))
                .copied()
                .unwrap_or(NO_REGION)
        };
        let name = (
            u32::try_from(line.name.start).map_err(|_| line.bad("file too large"))?,
            u32::try_from(line.name.len()).map_err(|_| line.bad("name too long"))?,
        );
        self.places.push(PlaceRecord {
            id,
            lat,
            lng,
            population,
            name,
            country,
            region,
        });
        Ok(())
    }

    /// The index of the country `code`; a code without a `C` line gets an unnamed country.
    fn country_of(&mut self, line: &Line<'t>, code: &'t str) -> Result<u16, OfflineError> {
        if let Some((last, index)) = self.last_country {
            if last == code {
                return Ok(index);
            }
        }
        let index = match self.country_by_code.get(code) {
            Some(&index) => index,
            None => {
                let index = self.new_country(line)?;
                self.country_by_code.insert(code, index);
                index
            }
        };
        self.last_country = Some((code, index));
        Ok(index)
    }

    /// Reserves the next country index, still unnamed.
    fn new_country(&mut self, line: &Line<'t>) -> Result<u16, OfflineError> {
        let index =
            u16::try_from(self.countries.len()).map_err(|_| line.bad("too many countries"))?;
        self.countries.push(0..0);
        Ok(index)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "herd-places\t1\nC\tUS\tUnited States\nR\tUS\tCA\tCalifornia\n\
        P\t5368361\t34.05223\t-118.24368\t3898747\tUS\tCA\tLos Angeles\n\
        P\t1\t10\t20\t0\tZZ\t\tNowhere\n";

    #[test]
    fn parses_names_regions_and_countries() {
        let table = PlaceTable::from_text(SAMPLE.to_owned()).unwrap();
        assert_eq!(table.places.len(), 2);
        let la = &table.places[0];
        assert_eq!(
            (la.id, la.lat, la.lng, la.population),
            (5368361, 34.05223, -118.24368, 3898747)
        );
        assert_eq!(table.name(la), "Los Angeles");
        assert_eq!(table.region(la), Some("California"));
        assert_eq!(table.country(la), Some("United States"));
        let nowhere = &table.places[1];
        assert_eq!(
            (
                table.name(nowhere),
                table.region(nowhere),
                table.country(nowhere)
            ),
            ("Nowhere", None, None)
        );
    }

    #[test]
    fn names_the_bad_line() {
        let text = SAMPLE.replace("34.05223", "north");
        let err = PlaceTable::from_text(text).unwrap_err();
        assert!(
            matches!(
                err,
                OfflineError::Parse {
                    line: 4,
                    reason: "bad latitude"
                }
            ),
            "{err}"
        );
        let err = PlaceTable::from_text("hello\n".to_owned()).unwrap_err();
        assert!(matches!(err, OfflineError::Parse { line: 1, .. }), "{err}");
    }

    #[test]
    fn rejects_what_is_not_gzip() {
        assert!(matches!(
            PlaceTable::from_gzip(b"plain"),
            Err(OfflineError::Decompress(_))
        ));
    }
}
