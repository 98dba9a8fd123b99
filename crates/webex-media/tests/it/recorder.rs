//! A global `metrics` recorder for this test binary that keeps counters
//! (by name and labels) so tests can read what the engine counted.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use metrics::{
    Counter, CounterFn, Gauge, Histogram, HistogramFn, Key, KeyName, Metadata, Recorder,
    SharedString, Unit,
};

#[derive(Default)]
struct Value(AtomicU64);

impl CounterFn for Value {
    fn increment(&self, value: u64) {
        self.0.fetch_add(value, Ordering::Relaxed);
    }
    fn absolute(&self, value: u64) {
        self.0.fetch_max(value, Ordering::Relaxed);
    }
}

/// A histogram counts its recordings (read as `name_count{labels}`).
impl HistogramFn for Value {
    fn record(&self, _: f64) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

#[derive(Default, Clone)]
pub struct Counters {
    values: Arc<Mutex<BTreeMap<String, Arc<Value>>>>,
    described: Arc<Mutex<Vec<String>>>,
}

fn id(key: &Key) -> String {
    let labels: Vec<String> = key
        .labels()
        .map(|l| format!("{}=\"{}\"", l.key(), l.value()))
        .collect();
    format!("{}{{{}}}", key.name(), labels.join(","))
}

impl Counters {
    /// A counter's value; `name{label="v"}` (`name{}` without labels).
    pub fn get(&self, id: &str) -> u64 {
        self.values
            .lock()
            .map(|m| m.get(id).map_or(0, |v| v.0.load(Ordering::Relaxed)))
            .unwrap_or(0)
    }

    /// The names `describe_*!` was called for.
    pub fn described(&self) -> Vec<String> {
        self.described.lock().map(|d| d.clone()).unwrap_or_default()
    }
}

impl Recorder for Counters {
    fn describe_counter(&self, key: KeyName, _: Option<Unit>, _: SharedString) {
        if let Ok(mut d) = self.described.lock() {
            d.push(key.as_str().to_string());
        }
    }
    fn describe_gauge(&self, key: KeyName, _: Option<Unit>, _: SharedString) {
        if let Ok(mut d) = self.described.lock() {
            d.push(key.as_str().to_string());
        }
    }
    fn describe_histogram(&self, key: KeyName, _: Option<Unit>, _: SharedString) {
        if let Ok(mut d) = self.described.lock() {
            d.push(key.as_str().to_string());
        }
    }
    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        let Ok(mut values) = self.values.lock() else {
            return Counter::noop();
        };
        Counter::from_arc(values.entry(id(key)).or_default().clone())
    }
    fn register_gauge(&self, _: &Key, _: &Metadata<'_>) -> Gauge {
        Gauge::noop()
    }
    fn register_histogram(&self, key: &Key, _: &Metadata<'_>) -> Histogram {
        let Ok(mut values) = self.values.lock() else {
            return Histogram::noop();
        };
        let count = id(key).replacen('{', "_count{", 1);
        Histogram::from_arc(values.entry(count).or_default().clone())
    }
}

/// The recorder, installed on first use.
pub fn counters() -> &'static Counters {
    static COUNTERS: OnceLock<Counters> = OnceLock::new();
    COUNTERS.get_or_init(|| {
        let c = Counters::default();
        metrics::set_global_recorder(c.clone()).expect("the only recorder");
        c
    })
}

#[test]
fn every_family_is_described() {
    let c = counters();
    webex_media::describe_metrics();
    let d = c.described();
    for name in [
        "webex_media_sessions",
        "webex_media_frames_forwarded_total",
        "webex_media_bytes_forwarded_total",
        "webex_media_ice_failures_total",
        "webex_media_dtls_failures_total",
        "webex_media_keyframe_requests_total",
        "webex_media_dropped_datagrams_total",
        "webex_media_session_panics_total",
        "webex_media_mix_seconds",
        "webex_media_speaker_switches_total",
    ] {
        assert!(d.iter().any(|n| n == name), "{name} not described: {d:?}");
    }
}
