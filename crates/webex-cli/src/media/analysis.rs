//! What decoded audio sounds like: its level (RMS) and its dominant
//! frequency (a Goertzel scan of 100–2000 Hz in 10 Hz steps over
//! Hann-windowed 100 ms blocks, whose 10 Hz resolution matches the steps,
//! powers summed over the blocks).

/// Samples per second of the PCM analysed.
const RATE: f64 = 48_000.0;
/// At most this many samples (2 s) are scanned for the frequency: cheap
/// in a debug build.
const SCAN: usize = 96_000;
/// One block: 100 ms, a resolution of 10 Hz.
const BLOCK: usize = 4_800;

/// Root mean square of `samples`, as a fraction of full scale (0–1).
pub fn rms(samples: &[i16]) -> f64 {
    if samples.is_empty() {
        return 0.0;
    }
    let sum: f64 = samples
        .iter()
        .map(|&s| (f64::from(s) / 32_768.0).powi(2))
        .sum();
    (sum / samples.len() as f64).sqrt()
}

/// The power of `hz` in `block` (Goertzel).
fn power(block: &[f64], hz: f64) -> f64 {
    let coeff = 2.0 * (std::f64::consts::TAU * hz / RATE).cos();
    let (mut s1, mut s2) = (0.0, 0.0);
    for &x in block {
        let s0 = x + coeff * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    s1 * s1 + s2 * s2 - coeff * s1 * s2
}

/// The loudest frequency between 100 and 2000 Hz (10 Hz steps) in the
/// middle two seconds of `samples`; `None` for silence.
pub fn dominant_frequency(samples: &[i16]) -> Option<f64> {
    let skip = samples.len().saturating_sub(SCAN) / 2;
    let window = &samples[skip..samples.len().min(skip + SCAN)];
    if rms(window) < 1e-4 {
        return None;
    }
    let hann: Vec<f64> = (0..BLOCK)
        .map(|i| 0.5 - 0.5 * (std::f64::consts::TAU * i as f64 / BLOCK as f64).cos())
        .collect();
    let blocks: Vec<Vec<f64>> = window
        .chunks(BLOCK)
        .map(|chunk| {
            chunk
                .iter()
                .zip(&hann)
                .map(|(&x, w)| f64::from(x) * w)
                .collect()
        })
        .collect();
    (10..=200)
        .map(|step| f64::from(step) * 10.0)
        .map(|hz| (hz, blocks.iter().map(|b| power(b, hz)).sum::<f64>()))
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(hz, _)| hz)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(hz: f64, n: usize) -> Vec<i16> {
        (0..n)
            .map(|i| ((std::f64::consts::TAU * hz * i as f64 / RATE).sin() * 8000.0) as i16)
            .collect()
    }

    #[test]
    fn a_tone_is_found_and_silence_has_none() {
        assert_eq!(dominant_frequency(&tone(440.0, 48_000)), Some(440.0));
        assert_eq!(dominant_frequency(&tone(660.0, 200_000)), Some(660.0));
        // Between two steps: the nearer one.
        assert_eq!(dominant_frequency(&tone(523.0, 48_000)), Some(520.0));
        assert_eq!(dominant_frequency(&[0; 4800]), None);
        let level = rms(&tone(440.0, 48_000));
        assert!(
            (level - 8000.0 / 32_768.0 / 2f64.sqrt()).abs() < 0.01,
            "{level}"
        );
    }
}
