//! Attachment content rules: which file types are accepted (sniffed from the
//! bytes, never from a name or a client's Content-Type), how a shown name is
//! cleaned, and how location and other metadata is removed from photos
//! before they may be shown publicly. Pure functions over bytes.

use img_parts::jpeg::{Jpeg, JpegSegment, markers};
use img_parts::png::Png;
use img_parts::riff::RiffContent;
use img_parts::webp::WebP;
use img_parts::{Bytes, ImageEXIF};
use thiserror::Error;

/// A file type gongzhi accepts as an attachment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaKind {
    Jpeg,
    Png,
    Webp,
    Gif,
    Pdf,
    Docx,
    Xlsx,
}

impl MediaKind {
    pub const ALL: [MediaKind; 7] = [
        MediaKind::Jpeg,
        MediaKind::Png,
        MediaKind::Webp,
        MediaKind::Gif,
        MediaKind::Pdf,
        MediaKind::Docx,
        MediaKind::Xlsx,
    ];

    pub fn media_type(self) -> &'static str {
        match self {
            MediaKind::Jpeg => "image/jpeg",
            MediaKind::Png => "image/png",
            MediaKind::Webp => "image/webp",
            MediaKind::Gif => "image/gif",
            MediaKind::Pdf => "application/pdf",
            MediaKind::Docx => {
                "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
            }
            MediaKind::Xlsx => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        }
    }

    pub fn extension(self) -> &'static str {
        match self {
            MediaKind::Jpeg => "jpg",
            MediaKind::Png => "png",
            MediaKind::Webp => "webp",
            MediaKind::Gif => "gif",
            MediaKind::Pdf => "pdf",
            MediaKind::Docx => "docx",
            MediaKind::Xlsx => "xlsx",
        }
    }

    pub fn from_media_type(media_type: &str) -> Option<MediaKind> {
        MediaKind::ALL
            .into_iter()
            .find(|k| k.media_type() == media_type)
    }

    /// Whether a public copy without metadata can be made. Other kinds (GIF
    /// extensions, PDF and office metadata) cannot be cleaned without
    /// rewriting the file, so they get no public copy.
    pub fn has_public_copy(self) -> bool {
        matches!(self, MediaKind::Jpeg | MediaKind::Png | MediaKind::Webp)
    }
}

/// The content is of a type that is not accepted.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("files of type {detected} are not accepted; send JPEG, PNG, WebP, GIF, PDF, DOCX or XLSX")]
pub struct Unsupported {
    /// The detected media type, or `unknown`.
    pub detected: String,
}

/// The file's type, from its first bytes.
pub fn sniff(bytes: &[u8]) -> Result<MediaKind, Unsupported> {
    let detected = infer::get(bytes);
    detected
        .and_then(|t| MediaKind::from_media_type(t.mime_type()))
        .ok_or_else(|| Unsupported {
            detected: detected.map_or("unknown", |t| t.mime_type()).to_string(),
        })
}

/// Longest kept name, in characters.
pub const MAX_NAME_CHARS: usize = 200;

/// The name a file is shown under: the last path component of what the
/// client sent, without control or bidi-override characters, trimmed and cut
/// to [`MAX_NAME_CHARS`]. Never used to find or type the file.
pub fn clean_file_name(raw: &str) -> String {
    let base = raw.rsplit(['/', '\\']).next().unwrap_or("");
    let cleaned: String = base
        .chars()
        .filter(|c| !c.is_control() && !is_bidi_control(*c))
        .collect();
    let trimmed = cleaned.trim().trim_start_matches('.').trim();
    let cut: String = trimmed.chars().take(MAX_NAME_CHARS).collect();
    if cut.is_empty() { "file".into() } else { cut }
}

fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum StripError {
    #[error("the {0} file is damaged and cannot be read")]
    Damaged(&'static str),
    #[error("no public copy can be made of {0} files")]
    NotSupported(&'static str),
}

/// A copy of an image without metadata: no EXIF (GPS, camera, time), XMP,
/// IPTC, comments or unknown chunks. The pixels are not re-encoded; colour
/// profiles stay. Only for kinds with [`MediaKind::has_public_copy`].
pub fn strip_metadata(kind: MediaKind, bytes: &[u8]) -> Result<Vec<u8>, StripError> {
    let bytes = Bytes::copy_from_slice(bytes);
    match kind {
        MediaKind::Jpeg => strip_jpeg(bytes),
        MediaKind::Png => strip_png(bytes),
        MediaKind::Webp => strip_webp(bytes),
        other => Err(StripError::NotSupported(other.extension())),
    }
}

/// APP0 JFIF/JFXX, APP2 ICC profile and APP14 Adobe describe how to draw the
/// image; every other application segment and comment is metadata.
fn keep_jpeg_segment(marker: u8, contents: &[u8]) -> bool {
    match marker {
        markers::APP0 => contents.starts_with(b"JFIF\0") || contents.starts_with(b"JFXX\0"),
        markers::APP2 => contents.starts_with(b"ICC_PROFILE\0"),
        markers::APP14 => contents.starts_with(b"Adobe"),
        markers::APP1..=markers::APP15 | markers::COM => false,
        _ => true,
    }
}

fn strip_jpeg(bytes: Bytes) -> Result<Vec<u8>, StripError> {
    let damaged = || StripError::Damaged("JPEG");
    let jpeg = Jpeg::from_bytes(bytes).map_err(|_| damaged())?;
    let mut kept = Vec::with_capacity(jpeg.segments().len());
    for segment in jpeg.segments() {
        if !keep_jpeg_segment(segment.marker(), segment.contents()) {
            continue;
        }
        if segment.has_entropy() {
            // The first scan's data holds the rest of the file: later scans,
            // EOI, and whatever follows (MPF images carry their own EXIF).
            // img-parts keeps that data private: take it from the encoding.
            let encoded = segment.clone().encoder().bytes();
            let tail = encoded.get(segment.len()..).ok_or_else(damaged)?;
            let entropy = clean_jpeg_tail(tail).ok_or_else(damaged)?;
            kept.push(JpegSegment::new_with_entropy(
                segment.marker(),
                segment.contents().clone(),
                Bytes::from(entropy),
            ));
        } else {
            kept.push(segment.clone());
        }
    }
    let mut out = Jpeg::from_bytes(Bytes::from_static(&[
        0xff,
        markers::SOI,
        0xff,
        markers::EOI,
    ]))
    .map_err(|_| damaged())?;
    *out.segments_mut() = kept;
    Ok(out.encoder().bytes().to_vec())
}

/// Walks what follows the first SOS header up to EOI: entropy-coded data,
/// restart markers and the segments between progressive scans. Drops
/// metadata segments and everything after EOI. `None` if EOI never comes.
fn clean_jpeg_tail(data: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(data.len());
    let mut i = 0;
    while i < data.len() {
        let byte = data[i];
        if byte != 0xff {
            out.push(byte);
            i += 1;
            continue;
        }
        let marker = *data.get(i + 1)?;
        match marker {
            // Stuffed 0xFF and restart markers are part of the scan data.
            0x00 | markers::RST0..=markers::RST7 => {
                out.extend_from_slice(&[0xff, marker]);
                i += 2;
            }
            // Fill byte before a marker.
            0xff => i += 1,
            markers::EOI => {
                out.extend_from_slice(&[0xff, markers::EOI]);
                return Some(out);
            }
            _ => {
                let len_bytes = data.get(i + 2..i + 4)?;
                let len = usize::from(u16::from_be_bytes([len_bytes[0], len_bytes[1]]));
                let end = i.checked_add(2)?.checked_add(len)?;
                let segment = data.get(i..end)?;
                if len < 2 {
                    return None;
                }
                if keep_jpeg_segment(marker, &segment[4..]) {
                    out.extend_from_slice(segment);
                }
                i = end;
            }
        }
    }
    None
}

/// Chunks that affect how a PNG is drawn; everything else (eXIf, tEXt, zTXt,
/// iTXt with XMP, tIME, private chunks) is dropped.
const PNG_KEEP: [&[u8; 4]; 20] = [
    b"IHDR", b"PLTE", b"IDAT", b"IEND", b"tRNS", b"gAMA", b"cHRM", b"sRGB", b"iCCP", b"sBIT",
    b"bKGD", b"pHYs", b"hIST", b"sPLT", b"acTL", b"fcTL", b"fdAT", b"cICP", b"mDCv", b"cLLi",
];

fn strip_png(bytes: Bytes) -> Result<Vec<u8>, StripError> {
    let mut png = Png::from_bytes(bytes).map_err(|_| StripError::Damaged("PNG"))?;
    png.chunks_mut()
        .retain(|c| PNG_KEEP.iter().any(|k| **k == c.kind()));
    Ok(png.encoder().bytes().to_vec())
}

/// Chunks that make up a WebP image; EXIF, XMP and unknown chunks go.
const WEBP_KEEP: [&[u8; 4]; 7] = [
    b"VP8 ", b"VP8L", b"VP8X", b"ALPH", b"ANIM", b"ANMF", b"ICCP",
];
/// The XMP bit of the VP8X flags, which img-parts leaves as it was.
const VP8X_XMP_FLAG: u8 = 0b0000_0100;

fn strip_webp(bytes: Bytes) -> Result<Vec<u8>, StripError> {
    let mut webp = WebP::from_bytes(bytes).map_err(|_| StripError::Damaged("WebP"))?;
    webp.chunks_mut()
        .retain(|c| WEBP_KEEP.iter().any(|k| **k == c.id()));
    // Recomputes the VP8X flags (and drops VP8X if nothing extended is left).
    webp.set_exif(None);
    if let Some(vp8x) = webp.chunks_mut().iter_mut().find(|c| &c.id() == b"VP8X")
        && let RiffContent::Data(data) = vp8x.content_mut()
        && let Some(first) = data.first()
    {
        let mut edited = data.to_vec();
        edited[0] = first & !VP8X_XMP_FLAG;
        *data = Bytes::from(edited);
    }
    Ok(webp.encoder().bytes().to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{ImageFormat, RgbImage};

    fn encoded(format: ImageFormat) -> Vec<u8> {
        let img = RgbImage::from_fn(8, 6, |x, y| image::Rgb([x as u8 * 30, y as u8 * 40, 90]));
        let mut out = std::io::Cursor::new(Vec::new());
        img.write_to(&mut out, format).unwrap();
        out.into_inner()
    }

    /// A little-endian TIFF block with IFD0 pointing at a GPS IFD holding a
    /// latitude reference: enough to be recognised as EXIF with GPS.
    fn exif_with_gps() -> Vec<u8> {
        let mut t = b"II*\0".to_vec();
        t.extend_from_slice(&8u32.to_le_bytes());
        // IFD0: one entry, GPSInfo (0x8825) LONG -> offset 26.
        t.extend_from_slice(&1u16.to_le_bytes());
        t.extend_from_slice(&0x8825u16.to_le_bytes());
        t.extend_from_slice(&4u16.to_le_bytes());
        t.extend_from_slice(&1u32.to_le_bytes());
        t.extend_from_slice(&26u32.to_le_bytes());
        t.extend_from_slice(&0u32.to_le_bytes());
        // GPS IFD: GPSLatitudeRef ASCII "N".
        t.extend_from_slice(&1u16.to_le_bytes());
        t.extend_from_slice(&1u16.to_le_bytes());
        t.extend_from_slice(&2u16.to_le_bytes());
        t.extend_from_slice(&2u32.to_le_bytes());
        t.extend_from_slice(b"N\0\0\0");
        t.extend_from_slice(&0u32.to_le_bytes());
        t
    }

    #[test]
    fn sniffs_from_content_only() {
        assert_eq!(sniff(&encoded(ImageFormat::Png)), Ok(MediaKind::Png));
        assert_eq!(sniff(&encoded(ImageFormat::Jpeg)), Ok(MediaKind::Jpeg));
        assert_eq!(sniff(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n"), Ok(MediaKind::Pdf));
        assert_eq!(
            sniff(b"just some text, named photo.jpg"),
            Err(Unsupported {
                detected: "unknown".into()
            })
        );
        let zip = b"PK\x03\x04\x14\x00\x00\x00\x00\x00somefile.txt";
        assert_eq!(
            sniff(zip).map_err(|e| e.detected),
            Err("application/zip".into())
        );
    }

    #[test]
    fn media_types_round_trip() {
        for kind in MediaKind::ALL {
            assert_eq!(MediaKind::from_media_type(kind.media_type()), Some(kind));
        }
    }

    #[test]
    fn names_are_cleaned() {
        assert_eq!(clean_file_name("../../etc/passwd"), "passwd");
        assert_eq!(clean_file_name("C:\\Users\\x\\照片.jpg"), "照片.jpg");
        assert_eq!(clean_file_name("a\u{202e}gpj.exe\n"), "agpj.exe");
        assert_eq!(clean_file_name("  .hidden "), "hidden");
        assert_eq!(clean_file_name(""), "file");
        assert_eq!(clean_file_name("/"), "file");
        assert_eq!(
            clean_file_name(&"长".repeat(500)).chars().count(),
            MAX_NAME_CHARS
        );
    }

    #[test]
    fn jpeg_loses_exif_and_trailing_data_but_still_decodes() {
        let mut jpeg = Jpeg::from_bytes(encoded(ImageFormat::Jpeg).into()).unwrap();
        jpeg.set_exif(Some(exif_with_gps().into()));
        jpeg.segments_mut().insert(
            1,
            JpegSegment::new_with_contents(markers::COM, Bytes::from_static(b"secret comment")),
        );
        let mut with_gps = jpeg.encoder().bytes().to_vec();
        with_gps.extend_from_slice(b"trailing data after EOI");
        assert!(
            Jpeg::from_bytes(with_gps.clone().into())
                .unwrap()
                .exif()
                .is_some()
        );

        let clean = strip_metadata(MediaKind::Jpeg, &with_gps).unwrap();
        let parsed = Jpeg::from_bytes(clean.clone().into()).unwrap();
        assert!(parsed.exif().is_none());
        assert!(parsed.segment_by_marker(markers::COM).is_none());
        assert!(!clean.windows(4).any(|w| w == b"Exif"));
        assert!(clean.ends_with(&[0xff, markers::EOI]));
        let decoded = image::load_from_memory_with_format(&clean, ImageFormat::Jpeg).unwrap();
        assert_eq!((decoded.width(), decoded.height()), (8, 6));
    }

    #[test]
    fn png_loses_exif_and_text() {
        let mut png = Png::from_bytes(encoded(ImageFormat::Png).into()).unwrap();
        png.set_exif(Some(exif_with_gps().into()));
        let text = img_parts::png::PngChunk::new(*b"tEXt", Bytes::from_static(b"Comment\0here"));
        png.chunks_mut().insert(1, text);
        let with_gps = png.encoder().bytes().to_vec();

        let clean = strip_metadata(MediaKind::Png, &with_gps).unwrap();
        let parsed = Png::from_bytes(clean.clone().into()).unwrap();
        assert!(parsed.exif().is_none());
        assert!(parsed.chunk_by_type(*b"tEXt").is_none());
        let original = image::load_from_memory(&with_gps).unwrap();
        let decoded = image::load_from_memory_with_format(&clean, ImageFormat::Png).unwrap();
        assert_eq!(original, decoded);
    }

    #[test]
    fn webp_loses_exif_and_xmp() {
        // A minimal extended WebP: VP8X (EXIF and XMP flags set), a lossless
        // 1x1 bitstream, EXIF and XMP chunks.
        fn chunk(id: &[u8; 4], data: &[u8]) -> Vec<u8> {
            let mut c = id.to_vec();
            c.extend_from_slice(&(data.len() as u32).to_le_bytes());
            c.extend_from_slice(data);
            if data.len() % 2 == 1 {
                c.push(0);
            }
            c
        }
        let mut body = b"WEBP".to_vec();
        body.extend(chunk(b"VP8X", &[0b0000_1100, 0, 0, 0, 0, 0, 0, 0, 0, 0]));
        body.extend(chunk(b"VP8L", &[0x2f, 0, 0, 0, 0, 0x88, 0x88, 0x08]));
        body.extend(chunk(b"EXIF", &exif_with_gps()));
        body.extend(chunk(b"XMP ", b"<x:xmpmeta>gps</x:xmpmeta>"));
        let mut file = b"RIFF".to_vec();
        file.extend_from_slice(&(body.len() as u32).to_le_bytes());
        file.extend(body);
        assert_eq!(sniff(&file), Ok(MediaKind::Webp));

        let clean = strip_metadata(MediaKind::Webp, &file).unwrap();
        let parsed = WebP::from_bytes(clean.clone().into()).unwrap();
        assert!(parsed.exif().is_none());
        assert!(!parsed.has_chunk(*b"XMP "));
        assert!(parsed.has_chunk(*b"VP8L"));
        assert_eq!(sniff(&clean), Ok(MediaKind::Webp));
    }

    #[test]
    fn damaged_images_are_refused() {
        let mut jpeg = encoded(ImageFormat::Jpeg);
        jpeg.truncate(jpeg.len() / 2);
        assert_eq!(
            strip_metadata(MediaKind::Jpeg, &jpeg),
            Err(StripError::Damaged("JPEG"))
        );
        assert!(strip_metadata(MediaKind::Png, b"\x89PNG\r\n\x1a\n\0\0").is_err());
        assert_eq!(
            strip_metadata(MediaKind::Pdf, b"%PDF-1.4"),
            Err(StripError::NotSupported("pdf"))
        );
    }
}
