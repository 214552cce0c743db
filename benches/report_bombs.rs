//! Benchmark (issue 16): hostile report messages against `reports_in_message`. Each is
//! built here in memory and sent as a mail attachment (base64, multipart/mixed):
//! - `zip-bomb`: one member `report.xml`, 1 GiB of zeros deflated (about 1 MiB: deflate
//!   compresses at most about 1032:1), sizes declared honestly;
//! - `zip-bomb-lying`: the same with both declared uncompressed sizes patched to 1,000;
//! - `zip-overlap`: about 15 KB, 128 central-directory entries all pointing at one 8 MiB
//!   deflated kernel: 1 GiB for a reader that inflates every entry (the non-recursive zip
//!   bomb; the smallest single-layer deflate shape that reaches 1 GiB);
//! - `gzip-bomb`: 1 GiB of zeros gzipped (about 1 MiB);
//! - `deep-xml`: 100,000 nested elements;
//! - `dtd-xxe`: `<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>`;
//! - `billion-laughs`: ten levels of internal entities, each ten times the last;
//! - `deep-json`: a TLS-RPT body (application/tlsrpt+json) nested 100,000 arrays deep.
//!
//! Each runs in a child process of this binary (re-executed with `--child CASE`, the message
//! on stdin), so its peak RSS (VmHWM, read by the child itself at the end) and the wall time
//! of the `reports_in_message` call are its own; one more child runs all of them in
//! sequence. Then the `dtd-xxe` child runs again under strace, if installed, which must
//! show no file or network system call between the markers the child writes around the
//! call. Prints a table and whether the targets (each refused within 1 s, peak RSS under
//! 100 MB) are met.
//!
//! Run: `cargo bench --bench report_bombs` (no lab, no network, no file written except a
//! temporary strace log).

use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::time::Instant;

use mail_auth::flate2::Compression;
use mail_auth::flate2::write::{DeflateEncoder, GzEncoder};
use mail_auth::zip::write::SimpleFileOptions;
use mail_auth::zip::{CompressionMethod, ZipWriter};
use mailauth_probes::reports::parse::{ReportLimits, reports_in_message};

const MIB: usize = 1024 * 1024;
const GIB: usize = 1024 * MIB;
const CASES: &[&str] = &[
    "zip-bomb",
    "zip-bomb-lying",
    "zip-overlap",
    "gzip-bomb",
    "deep-xml",
    "dtd-xxe",
    "billion-laughs",
    "deep-json",
];
const BEGIN: &str = "report-bombs: begin";
const END: &str = "report-bombs: end";

// ---------------------------------------------------------------------------------------
// The payloads.

/// `total` zeros written to `w` a MiB at a time: building a 1 GiB bomb needs no 1 GiB.
fn write_zeros(w: &mut impl Write, total: usize) {
    let chunk = vec![0u8; MIB];
    let mut left = total;
    while left > 0 {
        let n = left.min(MIB);
        w.write_all(&chunk[..n]).unwrap();
        left -= n;
    }
}

fn zip_bomb() -> Vec<u8> {
    let mut w = ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = SimpleFileOptions::default()
        .compression_method(CompressionMethod::Deflated)
        .compression_level(Some(9));
    w.start_file("report.xml", options).unwrap();
    write_zeros(&mut w, GIB);
    w.finish().unwrap().into_inner()
}

fn le32(b: &[u8], at: usize) -> usize {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap()) as usize
}

/// `zip` with the uncompressed size of its one member declared as `size` in both its local
/// header and its central directory entry.
fn lying(mut zip: Vec<u8>, size: u32) -> Vec<u8> {
    assert_eq!(&zip[..4], b"PK\x03\x04");
    zip[22..26].copy_from_slice(&size.to_le_bytes());
    let eocd = zip.len() - 22;
    assert_eq!(&zip[eocd..eocd + 4], b"PK\x05\x06");
    let cd = le32(&zip, eocd + 16);
    assert_eq!(&zip[cd..cd + 4], b"PK\x01\x02");
    zip[cd + 24..cd + 28].copy_from_slice(&size.to_le_bytes());
    zip
}

/// 128 central directory entries sharing one local file: 128 × 8 MiB = 1 GiB.
fn zip_overlap() -> Vec<u8> {
    const KERNEL: usize = 8 * MIB;
    const ENTRIES: u16 = 128;
    let mut e = DeflateEncoder::new(Vec::new(), Compression::best());
    write_zeros(&mut e, KERNEL);
    let kernel = e.finish().unwrap();
    let mut crc = mail_auth::flate2::Crc::new();
    crc.update(&vec![0u8; KERNEL]);
    let name = b"report.xml";
    // Fields shared by the local header and the central entries, from "version needed".
    let mut common = Vec::new();
    for v in [20u16, 0, 8, 0, 0x21] {
        common.extend_from_slice(&v.to_le_bytes());
    }
    for v in [crc.sum(), kernel.len() as u32, KERNEL as u32] {
        common.extend_from_slice(&v.to_le_bytes());
    }
    common.extend_from_slice(&(name.len() as u16).to_le_bytes());
    common.extend_from_slice(&0u16.to_le_bytes());
    let mut z = b"PK\x03\x04".to_vec();
    z.extend_from_slice(&common);
    z.extend_from_slice(name);
    z.extend_from_slice(&kernel);
    let cd_start = z.len();
    for _ in 0..ENTRIES {
        z.extend_from_slice(b"PK\x01\x02");
        z.extend_from_slice(&20u16.to_le_bytes());
        z.extend_from_slice(&common);
        // comment length, disk, internal and external attributes, local header offset 0.
        z.extend_from_slice(&[0; 2 + 2 + 2 + 4 + 4]);
        z.extend_from_slice(name);
    }
    let cd_len = z.len() - cd_start;
    z.extend_from_slice(b"PK\x05\x06\0\0\0\0");
    z.extend_from_slice(&ENTRIES.to_le_bytes());
    z.extend_from_slice(&ENTRIES.to_le_bytes());
    z.extend_from_slice(&(cd_len as u32).to_le_bytes());
    z.extend_from_slice(&(cd_start as u32).to_le_bytes());
    z.extend_from_slice(&0u16.to_le_bytes());
    z
}

fn gzip_bomb() -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::new(), Compression::best());
    write_zeros(&mut e, GIB);
    e.finish().unwrap()
}

fn billion_laughs() -> Vec<u8> {
    let mut x =
        String::from("<?xml version=\"1.0\"?>\n<!DOCTYPE feedback [\n <!ENTITY l0 \"lol\">\n");
    for i in 1..10 {
        x += &format!(
            " <!ENTITY l{i} \"{}\">\n",
            format!("&l{};", i - 1).repeat(10)
        );
    }
    x += "]>\n<feedback><report_metadata><org_name>&l9;</org_name></report_metadata></feedback>\n";
    x.into_bytes()
}

fn base64(data: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len() * 4 / 3 + data.len() / 38 + 8);
    for (n, chunk) in data.chunks(3).enumerate() {
        if n > 0 && n % 19 == 0 {
            out.push_str("\r\n");
        }
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let v = u32::from_be_bytes([0, b[0], b[1], b[2]]);
        for i in 0..4 {
            out.push(if i <= chunk.len() {
                A[(v >> (18 - 6 * i) & 63) as usize] as char
            } else {
                '='
            });
        }
    }
    out
}

fn message(content_type: &str, name: &str, data: &[u8]) -> Vec<u8> {
    format!(
        "From: noreply-dmarc@reporter.example\r\nTo: dmarc@lab.test\r\n\
         Subject: Report Domain: lab.test Submitter: reporter.example\r\n\
         MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n\
         --b\r\nContent-Type: text/plain\r\n\r\nAn aggregate report.\r\n\
         --b\r\nContent-Type: {content_type}; name=\"{name}\"\r\n\
         Content-Disposition: attachment; filename=\"{name}\"\r\n\
         Content-Transfer-Encoding: base64\r\n\r\n{}\r\n--b--\r\n",
        base64(data)
    )
    .into_bytes()
}

/// (message, what it is) for `case`.
fn build(case: &str) -> (Vec<u8>, String) {
    let (ctype, name, payload, what) = match case {
        "zip-bomb" => {
            let z = zip_bomb();
            let what = format!("zip {} KiB → 1 GiB", z.len() / 1024);
            ("application/zip", "bomb.zip", z, what)
        }
        "zip-bomb-lying" => {
            let z = lying(zip_bomb(), 1000);
            let what = format!("zip {} KiB → 1 GiB, declares 1000 B", z.len() / 1024);
            ("application/zip", "lying.zip", z, what)
        }
        "zip-overlap" => {
            let z = zip_overlap();
            let what = format!("zip {} KiB → 128 × 8 MiB", z.len() / 1024);
            ("application/zip", "overlap.zip", z, what)
        }
        "gzip-bomb" => {
            let g = gzip_bomb();
            let what = format!("gzip {} KiB → 1 GiB", g.len() / 1024);
            ("application/gzip", "bomb.xml.gz", g, what)
        }
        "deep-xml" => {
            let x = format!("{}{}", "<a>".repeat(100_000), "</a>".repeat(100_000));
            (
                "text/xml",
                "deep.xml",
                x.into_bytes(),
                "XML 100,000 levels".into(),
            )
        }
        "dtd-xxe" => {
            let x = b"<?xml version=\"1.0\"?>\n<!DOCTYPE r [<!ENTITY x SYSTEM \"file:///etc/passwd\">]>\n<feedback><report_metadata><org_name>&x;</org_name></report_metadata></feedback>\n";
            (
                "text/xml",
                "xxe.xml",
                x.to_vec(),
                "XML external entity".into(),
            )
        }
        "billion-laughs" => (
            "text/xml",
            "lol.xml",
            billion_laughs(),
            "XML 10^9 internal entities".into(),
        ),
        "deep-json" => {
            let j = format!(
                "{{\"policies\":{}{}}}",
                "[".repeat(100_000),
                "]".repeat(100_000)
            );
            (
                "application/tlsrpt+json",
                "deep.json",
                j.into_bytes(),
                "JSON 100,000 levels".into(),
            )
        }
        other => panic!("unknown case {other}"),
    };
    (message(ctype, name, &payload), what)
}

// ---------------------------------------------------------------------------------------
// The child: runs the messages it reads on stdin, prints one line each, then its VmHWM.

fn vm_hwm_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn child(cases: &[String]) {
    let mut input = Vec::new();
    std::io::stdin().read_to_end(&mut input).unwrap();
    let limits = ReportLimits::default();
    let mut at = 0;
    let mut out = String::new();
    for case in cases {
        let len = u64::from_le_bytes(input[at..at + 8].try_into().unwrap()) as usize;
        let raw = &input[at + 8..at + 8 + len];
        at += 8 + len;
        eprintln!("{BEGIN} {case}");
        let t = Instant::now();
        let result = reports_in_message(raw, &limits);
        let ms = t.elapsed().as_secs_f64() * 1000.0;
        eprintln!("{END} {case}");
        let (refused, reason) = match result {
            Err(e) => (true, e.to_string()),
            Ok(found) => match found.iter().find(|f| f.report.is_ok()) {
                Some(f) => (false, format!("{} parsed", f.filename)),
                None => (
                    true,
                    found
                        .iter()
                        .filter_map(|f| f.report.as_ref().err())
                        .map(|e| e.to_string())
                        .collect::<Vec<_>>()
                        .join("; "),
                ),
            },
        };
        out += &format!(
            "case\t{case}\t{refused}\t{ms:.3}\t{}\n",
            reason.replace(['\t', '\n'], " ")
        );
    }
    out += &format!("hwm\t{}\n", vm_hwm_kib());
    print!("{out}");
}

// ---------------------------------------------------------------------------------------
// The parent.

struct Run {
    refused: bool,
    ms: f64,
    reason: String,
}

/// Runs `cases` (with their messages) in one child; (per case, child's peak RSS in KiB).
fn run_child(cases: &[&str], messages: &[&Vec<u8>], wrapper: &[&str]) -> (Vec<Run>, u64, String) {
    let exe = std::env::current_exe().unwrap();
    let mut cmd = match wrapper.split_first() {
        Some((first, rest)) => {
            let mut c = Command::new(first);
            c.args(rest).arg(&exe);
            c
        }
        None => Command::new(&exe),
    };
    let mut child = cmd
        .arg("--child")
        .args(cases)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the child");
    let mut input = Vec::new();
    for m in messages {
        input.extend_from_slice(&(m.len() as u64).to_le_bytes());
        input.extend_from_slice(m);
    }
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || stdin.write_all(&input));
    let out = child.wait_with_output().expect("wait for the child");
    writer.join().unwrap().expect("write the child's input");
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(out.status.success(), "child {cases:?} failed: {stderr}");
    let mut runs = Vec::new();
    let mut hwm = 0;
    for line in stdout.lines() {
        let f: Vec<&str> = line.splitn(5, '\t').collect();
        match f[0] {
            "case" => runs.push(Run {
                refused: f[2] == "true",
                ms: f[3].parse().unwrap(),
                reason: f[4].to_string(),
            }),
            "hwm" => hwm = f[1].parse().unwrap(),
            _ => {}
        }
    }
    (runs, hwm, stderr)
}

fn short(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        format!("{}…", s.chars().take(n).collect::<String>())
    }
}

/// The DTD case under strace: the file and network system calls between the child's
/// markers (none expected), or why it was not checked.
fn strace_check(message: &Vec<u8>) -> String {
    let Some(strace) = ["/usr/bin/strace", "/bin/strace"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
    else {
        return "strace not installed: not traced (the DTD is refused by a byte scan before \
                any parser runs; see docs/reports.md)"
            .into();
    };
    let dir = std::env::temp_dir().join(format!("report-bombs-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let log = dir.join("strace.log");
    let log_arg = log.to_string_lossy().to_string();
    let (runs, _, _) = run_child(
        &["dtd-xxe"],
        &[message],
        &[
            strace,
            "-f",
            "-qq",
            "-e",
            "trace=%file,%network,write",
            "-o",
            &log_arg,
        ],
    );
    let trace = std::fs::read_to_string(&log).unwrap_or_default();
    let _ = std::fs::remove_dir_all(&dir);
    let begin = trace.find(BEGIN);
    let end = trace.find(END);
    let (Some(begin), Some(end)) = (begin, end) else {
        return "strace ran but its log has no markers: not checked".into();
    };
    let between: Vec<&str> = trace[begin..end]
        .lines()
        .skip(1)
        .filter(|l| !l.contains("write("))
        .collect();
    if between.is_empty() && runs.first().is_some_and(|r| r.refused) {
        "strace: refused with no file or network system call during reports_in_message (met)".into()
    } else {
        format!(
            "strace: {} file/network system calls during reports_in_message (MISSED): {}",
            between.len(),
            between.join(" | ")
        )
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--child") {
        child(&args[i + 1..]);
        return;
    }
    let mut built = Vec::new();
    for case in CASES {
        let t = Instant::now();
        let (raw, what) = build(case);
        eprintln!(
            "built {case}: {what}, message {} KiB in {:.1} s",
            raw.len() / 1024,
            t.elapsed().as_secs_f64()
        );
        built.push((case, raw, what));
    }
    println!("| case | payload | message (KiB) | refused | reason | wall (ms) | peak RSS (MB) |");
    println!("| --- | --- | --- | --- | --- | --- | --- |");
    let mut met = true;
    for (case, raw, what) in &built {
        let (runs, hwm, _) = run_child(&[case], &[raw], &[]);
        let r = &runs[0];
        let mb = hwm as f64 / 1024.0;
        met &= r.refused && r.ms < 1000.0 && mb < 100.0;
        println!(
            "| {case} | {what} | {} | {} | {} | {:.1} | {mb:.1} |",
            raw.len() / 1024,
            if r.refused { "yes" } else { "NO" },
            short(&r.reason, 110),
            r.ms,
        );
    }
    let names: Vec<&str> = built.iter().map(|(c, _, _)| **c).collect();
    let raws: Vec<&Vec<u8>> = built.iter().map(|(_, r, _)| r).collect();
    let (runs, hwm, _) = run_child(&names, &raws, &[]);
    let all_refused = runs.iter().all(|r| r.refused);
    let total: f64 = runs.iter().map(|r| r.ms).sum();
    let slowest = runs.iter().map(|r| r.ms).fold(0.0, f64::max);
    let mb = hwm as f64 / 1024.0;
    met &= all_refused && slowest < 1000.0 && mb < 100.0;
    println!(
        "| all {} in one process | | {} | {} | | {total:.1} (slowest {slowest:.1}) | {mb:.1} |",
        runs.len(),
        raws.iter().map(|r| r.len()).sum::<usize>() / 1024,
        if all_refused { "all" } else { "NOT ALL" },
    );
    println!();
    let dtd = built.iter().find(|(c, _, _)| **c == "dtd-xxe").unwrap();
    let traced = strace_check(&dtd.1);
    met &= !traced.contains("MISSED");
    println!("{traced}");
    println!(
        "targets: each refused in under 1 s, peak RSS under 100 MB per case and for the run \
         over all: {}",
        if met { "met" } else { "MISSED" }
    );
}
