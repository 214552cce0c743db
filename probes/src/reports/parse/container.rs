//! The containers a report comes in: gzip and zip, recognised by their magic bytes and
//! inflated through `Read::take`, so a bomb costs at most `max_uncompressed + 1` bytes. The
//! zip crate reads the archive (its central directory at most `max_attachment` bytes); an
//! archive of many members or a member declaring too much is refused before inflating.

use std::io::{Cursor, Read};

use mail_auth::zip::ZipArchive;

use super::{MAX_ZIP_MEMBERS, MIB, Refusal, ReportLimits};

pub(super) fn is_gzip(b: &[u8]) -> bool {
    b.starts_with(&[0x1f, 0x8b])
}

pub(super) fn is_zip(b: &[u8]) -> bool {
    b.starts_with(b"PK\x03\x04") || b.starts_with(b"PK\x05\x06")
}

/// The gzip trailer's ISIZE (the uncompressed size modulo 2^32): a hint for the first
/// allocation only, never trusted.
pub(super) fn gzip_size_hint(bytes: &[u8]) -> usize {
    bytes
        .len()
        .checked_sub(4)
        .and_then(|at| bytes[at..].try_into().ok())
        .map_or(0, |b| u32::from_le_bytes(b) as usize)
}

/// Reads at most `max_uncompressed + 1` bytes from `reader`; more means a refusal.
pub(super) fn inflate_bounded(
    label: &str,
    kind: &str,
    reader: impl Read,
    size_hint: usize,
    limits: &ReportLimits,
) -> Result<Vec<u8>, Refusal> {
    let limit = limits.max_uncompressed;
    let mut data = Vec::with_capacity(size_hint.min(limit).saturating_add(1).min(8 * MIB));
    reader
        .take(limit as u64 + 1)
        .read_to_end(&mut data)
        .map_err(|e| Refusal(format!("{label}: corrupt {kind} data: {e}")))?;
    if data.len() > limit {
        return Err(Refusal(format!(
            "{label}: {kind} content expands beyond max_uncompressed ({limit} bytes); \
             refused after inflating {} bytes",
            data.len()
        )));
    }
    Ok(data)
}

/// The first `.xml` member (or, failing that, `.json`), skipping directories and macOS
/// metadata, inflated within the limit.
pub(super) fn unzip(
    label: &str,
    bytes: &[u8],
    limits: &ReportLimits,
) -> Result<(String, Vec<u8>), Refusal> {
    let too_many = |n: usize| {
        Refusal(format!(
            "{label}: zip archive of {n} members (more than {MAX_ZIP_MEMBERS}): refused \
             without inflating any"
        ))
    };
    let mut archive = ZipArchive::new(Cursor::new(bytes))
        .map_err(|e| Refusal(format!("{label}: corrupt zip archive: {e}")))?;
    if archive.len() > MAX_ZIP_MEMBERS {
        return Err(too_many(archive.len()));
    }
    let names: Vec<String> = (0..archive.len())
        .map(|i| archive.name_for_index(i).unwrap_or("").to_string())
        .collect();
    let eligible = |ext: &str| {
        names.iter().position(|n| {
            let lower = n.to_ascii_lowercase();
            let base = lower.rsplit('/').next().unwrap_or("");
            !lower.ends_with('/')
                && !lower.starts_with("__macosx/")
                && !lower.contains("/__macosx/")
                && !base.starts_with("._")
                && lower.ends_with(ext)
        })
    };
    let Some(index) = eligible(".xml").or_else(|| eligible(".json")) else {
        return Err(Refusal(format!(
            "{label}: zip archive has no .xml or .json member (members: {})",
            names.join(", ")
        )));
    };
    let name = names[index].clone();
    let member = archive
        .by_index(index)
        .map_err(|e| Refusal(format!("{label}: zip member {name}: {e}")))?;
    let declared = member.size();
    if declared > limits.max_uncompressed as u64 {
        return Err(Refusal(format!(
            "{label}: zip member {name} declares {declared} bytes uncompressed, over \
             max_uncompressed ({} bytes): refused without inflating",
            limits.max_uncompressed
        )));
    }
    let what = format!("zip member {name}");
    let data = inflate_bounded(label, &what, member, declared as usize, limits)?;
    Ok((name, data))
}
