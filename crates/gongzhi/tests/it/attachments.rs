//! Attachments: stored by content hash, typed by content, size-limited,
//! scope-checked through their case, public copies without EXIF/GPS.

use std::collections::BTreeSet;

use image::{ImageFormat, RgbImage};
use img_parts::jpeg::Jpeg;
use img_parts::{Bytes, ImageEXIF};
use reqwest::StatusCode;
use reqwest::header;

use gongzhi_store::sha256_hex;
use gongzhi_web::ServerConfig;

use crate::harness::{Backend, TestApp, spawn_app, spawn_app_with};

fn encoded(format: ImageFormat) -> Vec<u8> {
    let img = RgbImage::from_fn(16, 12, |x, y| image::Rgb([x as u8 * 15, y as u8 * 20, 120]));
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, format).expect("encode");
    out.into_inner()
}

pub fn png_bytes() -> Vec<u8> {
    encoded(ImageFormat::Png)
}

/// Bytes at the end of the test EXIF block; they must not survive into a
/// public copy.
const GPS_MARK: &[u8] = b"GPSMARK";

/// Little-endian TIFF: IFD0 with GPSInfo (0x8825) pointing at a GPS IFD with
/// GPSLatitudeRef and GPSLatitude (28° 3' 0"), as a phone would write.
fn exif_with_gps() -> Vec<u8> {
    let mut t = b"II*\0".to_vec();
    t.extend_from_slice(&8u32.to_le_bytes());
    // IFD0 at 8: one entry, then next-IFD 0. 8 + 2 + 12 + 4 = 26.
    t.extend_from_slice(&1u16.to_le_bytes());
    t.extend_from_slice(&0x8825u16.to_le_bytes());
    t.extend_from_slice(&4u16.to_le_bytes());
    t.extend_from_slice(&1u32.to_le_bytes());
    t.extend_from_slice(&26u32.to_le_bytes());
    t.extend_from_slice(&0u32.to_le_bytes());
    // GPS IFD at 26: two entries, next 0. 26 + 2 + 24 + 4 = 56: rationals.
    t.extend_from_slice(&2u16.to_le_bytes());
    t.extend_from_slice(&1u16.to_le_bytes()); // GPSLatitudeRef
    t.extend_from_slice(&2u16.to_le_bytes()); // ASCII
    t.extend_from_slice(&2u32.to_le_bytes());
    t.extend_from_slice(b"N\0\0\0");
    t.extend_from_slice(&2u16.to_le_bytes()); // GPSLatitude
    t.extend_from_slice(&5u16.to_le_bytes()); // RATIONAL
    t.extend_from_slice(&3u32.to_le_bytes());
    t.extend_from_slice(&56u32.to_le_bytes());
    t.extend_from_slice(&0u32.to_le_bytes());
    for (num, den) in [(28u32, 1u32), (3, 1), (0, 1)] {
        t.extend_from_slice(&num.to_le_bytes());
        t.extend_from_slice(&den.to_le_bytes());
    }
    t.extend_from_slice(b"GPSMARK");
    t
}

/// A real JPEG carrying an APP1 Exif segment with GPS tags.
pub fn jpeg_with_gps() -> Vec<u8> {
    let mut jpeg = Jpeg::from_bytes(Bytes::from(encoded(ImageFormat::Jpeg))).expect("jpeg");
    jpeg.set_exif(Some(Bytes::from(exif_with_gps())));
    let bytes = jpeg.encoder().bytes().to_vec();
    assert!(bytes.windows(GPS_MARK.len()).any(|w| w == GPS_MARK));
    bytes
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

async fn download(
    app: &TestApp,
    path: &str,
    user: &str,
) -> (StatusCode, header::HeaderMap, Vec<u8>) {
    let res = app.get_raw(path, user).await;
    let status = res.status();
    let headers = res.headers().clone();
    let bytes = res.bytes().await.expect("body").to_vec();
    (status, headers, bytes)
}

async fn photos_are_stored_and_cleaned(backend: Backend) {
    let app = spawn_app(backend).await;
    let case_id = app.create_item("占道经营").await;
    let png = png_bytes();
    let jpeg = jpeg_with_gps();

    let r = app
        .upload(&case_id, Some("d1.operator"), "plan.png", png.clone())
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    assert_eq!(r.body["media_type"], "image/png");
    assert_eq!(r.body["sha256"], sha256_hex(&png));
    let r = app
        .upload(
            &case_id,
            Some("d1.grid_worker"),
            "../现场 照片.jpg",
            jpeg.clone(),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    assert_eq!(r.body["media_type"], "image/jpeg");
    assert_eq!(r.body["size_bytes"], jpeg.len());
    assert_eq!(r.body["original_name"], "现场 照片.jpg");
    assert_eq!(r.body["has_public_copy"], true);
    let jpeg_id = r.body["id"].as_str().expect("id").to_string();

    let list = app
        .get(
            &format!("/api/v1/cases/{case_id}/attachments"),
            "d1.dispatcher",
        )
        .await;
    assert_eq!(list.status, StatusCode::OK);
    let items = list.body["attachments"].as_array().expect("list");
    assert_eq!(items.len(), 2);

    // The original, byte for byte, with safe headers.
    let (status, headers, body) = download(
        &app,
        &format!("/api/v1/attachments/{jpeg_id}"),
        "d1.handler",
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, jpeg);
    assert_eq!(headers[header::CONTENT_TYPE], "image/jpeg");
    assert_eq!(headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
    let disposition = headers[header::CONTENT_DISPOSITION]
        .to_str()
        .expect("ascii");
    assert!(disposition.starts_with("attachment;"), "{disposition}");
    assert!(
        disposition.contains("filename*=UTF-8''%E7%8E%B0"),
        "{disposition}"
    );

    // The public copy: no EXIF, no GPS bytes, still the same JPEG image.
    let (status, headers, public) = download(
        &app,
        &format!("/api/v1/attachments/{jpeg_id}/public"),
        "d1.handler",
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers[header::CONTENT_TYPE], "image/jpeg");
    assert!(!contains(&public, GPS_MARK));
    assert!(!contains(&public, b"Exif\0\0"));
    let parsed = Jpeg::from_bytes(Bytes::from(public.clone())).expect("public copy parses");
    assert!(parsed.exif().is_none());
    assert_eq!(
        image::guess_format(&public).expect("format"),
        ImageFormat::Jpeg
    );
    let original = image::load_from_memory(&jpeg).expect("original decodes");
    let cleaned =
        image::load_from_memory_with_format(&public, ImageFormat::Jpeg).expect("copy decodes");
    assert_eq!(original, cleaned, "same pixels: nothing was re-encoded");

    // Content-addressed files: the PNG had no metadata, so its public copy is
    // the same blob as the original.
    let want: BTreeSet<String> = [sha256_hex(&png), sha256_hex(&jpeg), sha256_hex(&public)]
        .into_iter()
        .collect();
    let files = app.blob_files();
    let names: BTreeSet<String> = files
        .iter()
        .filter_map(|p| p.file_name().and_then(|n| n.to_str()).map(str::to_string))
        .collect();
    assert_eq!(names, want);
    for file in &files {
        let name = file.file_name().and_then(|n| n.to_str()).expect("name");
        assert!(file.ends_with(format!("{}/{}/{name}", &name[0..2], &name[2..4])));
    }

    // Each upload is a log entry on the case, in the case's state.
    let timeline = app
        .get(&format!("/api/v1/cases/{case_id}/timeline"), "d1.operator")
        .await;
    let entries = timeline.body["entries"].as_array().expect("entries");
    let attach: Vec<_> = entries.iter().filter(|e| e["action"] == "attach").collect();
    assert_eq!(attach.len(), 2, "{entries:?}");
    let last = attach[1];
    assert_eq!(last["from_state"], "registered");
    assert_eq!(last["to_state"], "registered");
    let after = &last["changes"]["attachment"]["after"];
    assert_eq!(after["id"], jpeg_id.as_str());
    assert_eq!(after["sha256"], sha256_hex(&jpeg));
    assert_eq!(after["media_type"], "image/jpeg");
    assert_eq!(after["size"], jpeg.len());
    assert!(last["changes"]["attachment"]["before"].is_null());
    app.stop().await;
}
crate::db_test!(photos_are_stored_and_cleaned);

async fn same_bytes_are_stored_once(backend: Backend) {
    let app = spawn_app(backend).await;
    let first = app.create_item("一").await;
    let second = app.create_item("二").await;
    let jpeg = jpeg_with_gps();
    for case in [&first, &first, &second] {
        let r = app
            .upload(case, Some("d1.operator"), "a.jpg", jpeg.clone())
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    }
    assert_eq!(app.db.attachment_count().await.expect("count"), 3);
    // One original and one public copy, however often they were sent.
    assert_eq!(app.blob_files().len(), 2, "{:?}", app.blob_files());
    app.stop().await;
}
crate::db_test!(same_bytes_are_stored_once);

async fn type_comes_from_content(backend: Backend) {
    let app = spawn_app(backend).await;
    let case_id = app.create_item("文件类型").await;
    // Named .jpg and sent as image/jpeg, but it is text.
    let r = app
        .upload(
            &case_id,
            Some("d1.operator"),
            "photo.jpg",
            b"hello, I am text".to_vec(),
        )
        .await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_file_type")
    );
    assert!(r.body["message"].as_str().unwrap_or("").contains("unknown"));
    // A known type that is not accepted is named.
    let zip = b"PK\x03\x04\x14\x00\x00\x00\x00\x00\x00\x00\x00\x00data.bin".to_vec();
    let r = app
        .upload(&case_id, Some("d1.operator"), "x.jpg", zip)
        .await;
    assert_eq!(r.code(), "unsupported_file_type");
    assert!(
        r.body["message"]
            .as_str()
            .unwrap_or("")
            .contains("application/zip")
    );
    assert_eq!(app.db.attachment_count().await.expect("count"), 0);
    assert!(app.blob_files().is_empty());

    // A PDF named .png is stored as a PDF, and gets no public copy.
    let pdf = b"%PDF-1.4\n1 0 obj << >> endobj\ntrailer << >>\n%%EOF\n".to_vec();
    let r = app
        .upload(&case_id, Some("d1.operator"), "scan.png", pdf)
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    assert_eq!(r.body["media_type"], "application/pdf");
    assert_eq!(r.body["has_public_copy"], false);
    let id = r.body["id"].as_str().expect("id");
    let (status, headers, _) =
        download(&app, &format!("/api/v1/attachments/{id}"), "d1.operator").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers[header::CONTENT_TYPE], "application/pdf");
    let r = app
        .get(&format!("/api/v1/attachments/{id}/public"), "d1.operator")
        .await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::NOT_FOUND, "no_public_copy")
    );

    // Empty files and bodies that are not multipart are refused.
    let r = app
        .upload(&case_id, Some("d1.operator"), "e.jpg", Vec::new())
        .await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::UNPROCESSABLE_ENTITY, "invalid_field")
    );
    let r = app
        .post(
            &format!("/api/v1/cases/{case_id}/attachments"),
            "d1.operator",
            serde_json::json!({"file": "x"}),
        )
        .await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type")
    );
    app.stop().await;
}
crate::db_test!(type_comes_from_content);

async fn uploads_are_size_limited(backend: Backend) {
    let config = ServerConfig {
        attachment_max_bytes: 4096,
        ..ServerConfig::default()
    };
    let app = spawn_app_with(backend, config).await;
    let case_id = app.create_item("太大").await;
    // Over the file limit but within the request limit: cut off while read.
    let mut big = jpeg_with_gps();
    big.resize(6000, 0);
    let r = app
        .upload(&case_id, Some("d1.operator"), "big.jpg", big)
        .await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::PAYLOAD_TOO_LARGE, "body_too_large")
    );
    // Over the request limit as well.
    let mut huge = jpeg_with_gps();
    huge.resize(4096 + gongzhi_web::UPLOAD_OVERHEAD + 10_000, 0);
    let r = app
        .upload(&case_id, Some("d1.operator"), "huge.jpg", huge)
        .await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::PAYLOAD_TOO_LARGE, "body_too_large")
    );
    assert_eq!(app.db.attachment_count().await.expect("count"), 0);
    assert!(app.blob_files().is_empty());
    // Just under the limit is fine.
    let r = app
        .upload(&case_id, Some("d1.operator"), "ok.png", png_bytes())
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    app.stop().await;
}
crate::db_test!(uploads_are_size_limited);

async fn attachments_follow_case_scope(backend: Backend) {
    let app = spawn_app(backend).await;
    let case_id = app.create_item("范围").await;
    let r = app
        .upload(&case_id, Some("d1.operator"), "a.jpg", jpeg_with_gps())
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let id = r.body["id"].as_str().expect("id").to_string();
    let missing = "00000000-0000-7000-8000-000000000000";
    let gone = app
        .get(&format!("/api/v1/cases/{missing}"), "d2.operator")
        .await;
    assert_eq!(gone.code(), "case_not_found");
    for path in [
        format!("/api/v1/cases/{case_id}/attachments"),
        format!("/api/v1/attachments/{id}"),
        format!("/api/v1/attachments/{id}/public"),
        format!("/api/v1/attachments/{missing}"),
        format!("/api/v1/attachments/{missing}/public"),
    ] {
        let r = app.get(&path, "d2.operator").await;
        assert_eq!((r.status, &r.body), (gone.status, &gone.body), "{path}");
    }
    // In scope through the area: the G1a grid worker may read it.
    let (status, _, _) = download(&app, &format!("/api/v1/attachments/{id}"), "grid.g1a").await;
    assert_eq!(status, StatusCode::OK);
    // Uploading to a case out of scope stores nothing.
    let before = app.blob_files().len();
    let r = app
        .upload(&case_id, Some("d2.operator"), "b.png", png_bytes())
        .await;
    assert_eq!((r.status, &r.body), (gone.status, &gone.body));
    assert_eq!(app.blob_files().len(), before);
    assert_eq!(app.db.attachment_count().await.expect("count"), 1);
    let r = app.upload(&case_id, None, "b.png", png_bytes()).await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::UNAUTHORIZED, "unauthenticated")
    );
    app.stop().await;
}
crate::db_test!(attachments_follow_case_scope);
