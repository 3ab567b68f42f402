//! Gzip for the simulated relay's compressed answers ([`super::Step::GzipJson`],
//! [`super::Step::GzipSse`]): a relay that compresses whether or not it was asked to.

use std::io::Write as _;

use bytes::Bytes;
use flate2::Compression;
use flate2::write::GzEncoder;

/// `data` as one gzip member.
pub(crate) fn whole(data: &[u8]) -> std::io::Result<Bytes> {
    let mut enc = GzEncoder::new(Vec::new(), Compression::default());
    enc.write_all(data)?;
    Ok(Bytes::from(enc.finish()?))
}

/// One gzip member split at `chunks`' ends: each piece ends in a sync flush, so a decoder
/// can hand out every chunk as soon as its piece arrives; the last piece carries the trailer.
pub(crate) fn flushed(chunks: &[Bytes]) -> std::io::Result<Vec<Bytes>> {
    let mut enc = GzEncoder::new(Vec::new(), Compression::default());
    let mut out = Vec::with_capacity(chunks.len() + 1);
    for c in chunks {
        enc.write_all(c)?;
        enc.flush()?;
        out.push(Bytes::from(std::mem::take(enc.get_mut())));
    }
    out.push(Bytes::from(enc.finish()?));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read as _;

    fn gunzip(b: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(b)
            .read_to_end(&mut out)
            .expect("valid gzip");
        out
    }

    #[test]
    fn pieces_join_to_one_member_and_each_prefix_decodes_its_chunks() {
        let chunks = vec![
            Bytes::from_static(b"data: 1\n\n"),
            Bytes::from_static(b"data: 2\n\n"),
        ];
        let pieces = flushed(&chunks).expect("gzip");
        let all: Vec<u8> = pieces.iter().flat_map(|p| p.iter().copied()).collect();
        assert_eq!(gunzip(&all), b"data: 1\n\ndata: 2\n\n");
        // The first piece alone (no trailer yet) already yields the first chunk.
        let mut first = Vec::new();
        let mut dec = flate2::read::GzDecoder::new(&pieces[0][..]);
        let mut buf = [0u8; 64];
        while let Ok(n) = dec.read(&mut buf) {
            if n == 0 {
                break;
            }
            first.extend_from_slice(&buf[..n]);
        }
        assert_eq!(first, b"data: 1\n\n");
        assert_eq!(gunzip(&whole(b"{}").expect("gzip")), b"{}");
    }
}
