//! One change-only run's memory, alone (no hub, no data plane): for a base of N keys, the first
//! run that builds it (every key new) and a steady run against it (1 % of the keys changed),
//! each step's CPU and wall time per row and the process's peak RSS (VmHWM) in each run. Keys arrive in hash
//! order's random order, as rows do; deliveries are confirmed per batch of 1 000 rows, as the
//! data plane confirms them. Snapshot parts go through files, as they go through a store.
//!
//! `cargo bench -p hub_core --bench memory -- 1000000 10000000` (the sizes are the default).
//! Each run is a process of its own (this binary again), so that each peak RSS is that run's.

use std::fs;
use std::path::Path;
use std::time::{Duration, Instant};

use hub_core::changes::format::{Decoder, Encoder, SnapshotInfo};
use hub_core::changes::hash::{Fingerprint, KeyHash};
use hub_core::changes::memory::{Decision, Memory, Pending, Remembered};

const BATCH: usize = 1_000;

fn mix(mut z: u64) -> u64 {
    // splitmix64: keys spread as the seeded key hash spreads them.
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn key(i: u64) -> Option<KeyHash> {
    KeyHash::from_bits(mix(i) >> 20)
}

/// The content of row `i` in run `run`: 1 % of the rows change from run to run.
fn fingerprint(i: u64, run: u64) -> Fingerprint {
    let version = if i.is_multiple_of(100) { run } else { 0 };
    Fingerprint::from_bits(mix(i ^ (version << 56) ^ 0xF00D) >> 24).unwrap()
}

/// `VmHWM` (peak resident set) of this process, in MiB.
fn peak_rss_mib() -> f64 {
    let status = fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kib: f64 = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    kib / 1024.0
}

/// CPU time this thread has had, in ns (Linux: the first field of schedstat). On a shared
/// machine the wall time per row depends on the neighbours; the CPU time much less.
fn cpu_ns() -> u64 {
    fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// Wall and CPU time of one measurement.
#[derive(Default, Clone, Copy)]
struct Spent {
    wall: Duration,
    cpu_ns: u64,
    calls: u64,
}

/// Time spent per step of a run, less what measuring it cost.
struct Steps {
    spent: Vec<(&'static str, Spent)>,
    /// The cost of one measurement of nothing.
    overhead: Spent,
}

impl Steps {
    fn new() -> Steps {
        let mut probe = Steps {
            spent: vec![],
            overhead: Spent::default(),
        };
        for _ in 0..1000 {
            probe.timed("nothing", || ());
        }
        let nothing = probe.spent[0].1;
        Steps {
            spent: vec![],
            overhead: Spent {
                wall: nothing.wall / 1000,
                cpu_ns: nothing.cpu_ns / 1000,
                calls: 1,
            },
        }
    }

    fn timed<T>(&mut self, step: &'static str, f: impl FnOnce() -> T) -> T {
        let (wall, cpu) = (Instant::now(), cpu_ns());
        let out = f();
        let (wall, cpu) = (wall.elapsed(), cpu_ns() - cpu);
        let at = match self.spent.iter().position(|(s, _)| *s == step) {
            Some(at) => at,
            None => {
                self.spent.push((step, Spent::default()));
                self.spent.len() - 1
            }
        };
        let spent = &mut self.spent[at].1;
        spent.wall += wall;
        spent.cpu_ns += cpu;
        spent.calls += 1;
        out
    }

    fn print(&self, run: &str, rows: u64, peak: f64) {
        for (step, spent) in &self.spent {
            let wall = spent
                .wall
                .saturating_sub(self.overhead.wall * spent.calls as u32);
            let cpu = spent
                .cpu_ns
                .saturating_sub(self.overhead.cpu_ns * spent.calls);
            println!(
                "| {rows} | {run} | {step} | {:.0} | {:.0} |",
                cpu as f64 / rows as f64,
                wall.as_nanos() as f64 / rows as f64
            );
        }
        println!("| {rows} | {run} | peak RSS (VmHWM) | {peak:.1} MiB | |");
    }
}

/// Decide every row, confirming each batch's sent rows after it.
fn decide_all(memory: &mut Memory, rows: u64, run: u64, steps: &mut Steps) {
    let mut sent: Vec<Pending> = Vec::with_capacity(BATCH);
    let mut i = 0;
    while i < rows {
        let end = (i + BATCH as u64).min(rows);
        steps.timed("decide", || {
            for i in i..end {
                let d: Decision = memory.decide(key(i), fingerprint(i, run));
                sent.extend(d.pending());
            }
        });
        steps.timed("confirm", || {
            for p in sent.drain(..) {
                memory.confirm(p);
            }
        });
        i = end;
    }
}

/// Write the records as parts into `dir`.
fn encode(remembered: Remembered, dir: &Path, steps: &mut Steps) -> SnapshotInfo {
    let mut encoder = Encoder::new(remembered);
    let mut n = 0;
    while let Some(part) = steps.timed("encode", || encoder.next_part()) {
        fs::write(dir.join(n.to_string()), part).unwrap();
        n += 1;
    }
    encoder.info()
}

/// Read the parts in `dir` back.
fn decode(info: SnapshotInfo, dir: &Path, steps: &mut Steps) -> Memory {
    let mut decoder = steps.timed("decode", || Decoder::new(info).unwrap());
    for n in 0..info.parts {
        let part = fs::read(dir.join(n.to_string())).unwrap();
        steps.timed("decode", || decoder.feed(&part).unwrap());
    }
    steps.timed("decode", || decoder.finish().unwrap())
}

/// The first run: every key new; its snapshot goes into `dir`.
fn first_run(rows: u64, dir: &Path) {
    let mut steps = Steps::new();
    let mut memory = Memory::empty();
    decide_all(&mut memory, rows, 1, &mut steps);
    let held = memory.heap_bytes();
    let remembered = steps.timed("finish", || memory.finish(true));
    let info = encode(remembered, dir, &mut steps);
    let run = "first run (all new)";
    steps.print(run, rows, peak_rss_mib());
    println!("| {rows} | {run} | memory held | {:.1} MiB | |", mib(held));
    let info = format!("{} {} {}", info.records, info.parts, info.crc32);
    fs::write(dir.join("info"), info).unwrap();
}

/// The next run, against the snapshot in `dir`: 1 % of the rows changed.
fn steady_run(rows: u64, dir: &Path) {
    let info: Vec<u64> = fs::read_to_string(dir.join("info"))
        .unwrap()
        .split(' ')
        .map(|n| n.parse().unwrap())
        .collect();
    let info = SnapshotInfo {
        records: info[0],
        parts: info[1] as u32,
        crc32: info[2] as u32,
    };
    let mut steps = Steps::new();
    let mut memory = decode(info, dir, &mut steps);
    decide_all(&mut memory, rows, 2, &mut steps);
    let counts = memory.counts();
    let held = memory.heap_bytes();
    let remembered = steps.timed("finish", || memory.finish(true));
    let gone = remembered.keys_gone;
    let next = encode(remembered, &dir.join("next"), &mut steps);
    let run = "1 % changed";
    steps.print(run, rows, peak_rss_mib());
    println!(
        "| {rows} | {run} | memory held | {:.1} MiB (Memory::bytes_for: {:.1} MiB) | |",
        mib(held),
        mib(Memory::bytes_for(info.records))
    );
    println!(
        "<!-- {rows} rows: base {} records; {counts:?}; keys gone {gone:?}; next snapshot {} records -->",
        info.records, next.records
    );
}

fn mib(bytes: usize) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

/// Each run in a process of its own, so that each peak is its own.
fn child(run: &str, rows: u64, dir: &Path) {
    let status = std::process::Command::new(std::env::current_exe().unwrap())
        .args([run, &rows.to_string(), dir.to_str().unwrap()])
        .status()
        .unwrap();
    assert!(status.success(), "the {run} run of {rows} rows failed");
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let [run, rows, dir] = &args[..] {
        let (rows, dir) = (rows.parse().unwrap(), Path::new(dir));
        match run.as_str() {
            "--first" => first_run(rows, dir),
            "--steady" => steady_run(rows, dir),
            _ => panic!("unknown run {run}"),
        }
        return;
    }
    let sizes: Vec<u64> = args.iter().filter_map(|a| a.parse().ok()).collect();
    let sizes = if sizes.is_empty() {
        vec![1_000_000, 10_000_000]
    } else {
        sizes
    };
    println!("An empty process's peak RSS: {:.1} MiB", peak_rss_mib());
    println!("| rows | run | step | CPU ns per row | wall ns per row |");
    println!("|---|---|---|---|---|");
    for rows in sizes {
        let dir = std::env::temp_dir().join(format!("memory-bench-{}", std::process::id()));
        fs::create_dir_all(dir.join("next")).unwrap();
        child("--first", rows, &dir);
        child("--steady", rows, &dir);
        fs::remove_dir_all(&dir).unwrap();
    }
}
