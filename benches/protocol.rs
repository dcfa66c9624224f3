//! Criterion benches of the per-line hot path: framing and parsing a line, building an AT
//! record, and formatting a WHATSAT answer.

use bytes::BytesMut;
use criterion::{criterion_group, criterion_main, Criterion};
use herd_core::protocol::answer;
use herd_core::protocol::command::{self, Command};
use herd_core::protocol::frame::LineFramer;
use herd_core::protocol::number::time_difference;
use herd_core::record::Record;
use serde_json::json;
use std::hint::black_box;

const IAMAT: &[u8] = b"IAMAT kiwi.cs.ucla.edu +34.068930-118.445127 1621464827.959498503\n";

fn parse(c: &mut Criterion) {
    c.bench_function("frame+parse IAMAT", |b| {
        let mut framer = LineFramer::new(64 * 1024);
        let mut buf = BytesMut::with_capacity(4096);
        b.iter(|| {
            buf.extend_from_slice(IAMAT);
            let frame = framer.next_frame(&mut buf, false).unwrap();
            if let herd_core::protocol::frame::Frame::Line(line) = frame {
                black_box(command::parse(&line).is_ok());
            }
        })
    });
    c.bench_function("parse WHATSAT", |b| {
        b.iter(|| black_box(command::parse(black_box(b"WHATSAT kiwi.cs.ucla.edu 10 5"))))
    });
}

fn record(c: &mut Criterion) {
    c.bench_function("IAMAT -> AT record", |b| {
        b.iter(|| {
            let Ok(Command::IAmAt {
                client,
                location,
                time,
                lat,
                lng,
            }) = command::parse(black_box(&IAMAT[..IAMAT.len() - 1]))
            else {
                unreachable!()
            };
            let difference = time_difference(1_621_464_828_223_371_889, time).unwrap();
            black_box(Record::received(
                "Clark",
                1,
                difference,
                client,
                location,
                time,
                (lat, lng),
            ))
        })
    });
}

fn whatsat(c: &mut Criterion) {
    let place = json!({
        "geometry": {"location": {"lat": 34.0, "lng": -118.4}, "viewport": {"northeast": {"lat": 34.1, "lng": -118.3}, "southwest": {"lat": 33.9, "lng": -118.5}}},
        "icon": "https://maps.gstatic.com/mapfiles/place_api/icons/v1/png_71/geocode-71.png",
        "name": "Santa Monica", "place_id": "geonames:5393212", "reference": "geonames:5393212",
        "scope": "GOOGLE", "types": ["locality", "political"], "vicinity": "Santa Monica, California, United States"
    });
    let places = json!({"html_attributions": [], "results": vec![place; 20], "status": "OK"});
    let at = b"AT Clark +0.263873386 kiwi.cs.ucla.edu +34.068930-118.445127 1621464827.959498503";
    c.bench_function("format WHATSAT answer (5 of 20 places)", |b| {
        let mut out = Vec::with_capacity(16 * 1024);
        b.iter(|| {
            out.clear();
            answer::whatsat(at, places.clone(), 5, &mut out);
            black_box(out.len())
        })
    });
}

criterion_group!(benches, parse, record, whatsat);
criterion_main!(benches);
