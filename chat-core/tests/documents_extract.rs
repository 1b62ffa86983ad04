//! Extraction tests: needles in real fixtures with their locators, type sniffing, every limit
//! against hostile inputs, the worker process (limits, kill on overrun), and a randomized test
//! over mutated fixtures.
//!
//! This test binary has its own `main` (harness = false) because it is also the extraction
//! worker: started with `--worker` it serves one request, as the `extract` example does, so
//! the worker tests need no other binary. Run one test with `cargo test --test
//! documents_extract -- NAME`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[cfg(feature = "documents")]
mod documents_support;

#[cfg(feature = "documents")]
mod tests {
    use std::future::Future;
    use std::pin::Pin;
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    use chat_core::ingest::documents::{
        Extractor, FileType, IngestConfig, IngestError, NO_TEXT_LAYER, PdfBackend, Processed,
        WorkerConfig, extract_in_process,
    };
    use chat_core::model::ChunkLocator;

    use crate::documents_support::*;

    pub(crate) type TestFn = fn() -> Pin<Box<dyn Future<Output = ()>>>;

    macro_rules! tests {
        ($($name:ident),* $(,)?) => {
            pub(crate) const TESTS: &[(&str, TestFn)] = &[$((stringify!($name), || Box::pin($name()))),*];
        };
    }

    tests!(
        in_process_memory_stays_bounded,
        needles_found_with_locators,
        needles_found_with_pdftotext,
        needles_found_with_every_format_in_the_worker,
        pdf_in_process_only_when_opted_in,
        sniffing_tells_real_types,
        zip_bomb_refused_from_directory,
        huge_declared_sizes_refused,
        lying_zip_directory_stopped_while_inflating,
        compression_ratio_limit,
        xlsx_far_corner_cells_stay_small,
        cell_and_row_limits,
        parts_read_whole_have_a_smaller_limit,
        large_docx_table_is_chunked_by_rows,
        billion_laughs_cannot_expand,
        encrypted_and_scanned_pdfs,
        truncated_files_are_corrupt,
        worker_killed_past_wall_clock,
        worker_memory_limit_is_a_clean_error,
        worker_limits_hold_for_a_hostile_child,
        worker_missing_is_unavailable,
        text_limit_and_timeout,
        randomized_mutations_never_panic_or_hang,
    );

    fn worker() -> WorkerConfig {
        let exe = std::env::current_exe().expect("test binary path");
        WorkerConfig::new(exe, ["--worker"])
    }

    fn config() -> IngestConfig {
        IngestConfig::default().worker(worker())
    }

    async fn process(
        extractor: &Extractor,
        name: &str,
        bytes: Vec<u8>,
    ) -> Result<Processed, IngestError> {
        extractor.process(Arc::from(bytes), name).await
    }

    fn assert_within(started: Instant, secs: u64) {
        let took = started.elapsed();
        assert!(took < Duration::from_secs(secs), "took {took:?}");
    }

    fn code(result: &Result<Processed, IngestError>) -> &'static str {
        match result {
            Ok(_) => "ok",
            Err(err) => err.code(),
        }
    }

    /// The in-process parsers on hostile inputs (sparse XLSX corners, zip bombs, many cells)
    /// grow this process's peak memory by less than 64 MiB. Runs first, so the peak is not
    /// already raised by other tests.
    async fn in_process_memory_stays_bounded() {
        let Some(before) = peak_rss_kib() else {
            eprintln!("SKIPPED: no /proc/self/status on this system");
            return;
        };
        let extractor = Extractor::new(config());
        let corners = minimal_xlsx(&format!(
            r#"<row r="1">{}</row><row r="1048576">{}</row>"#,
            xlsx_cell("A1", "first"),
            xlsx_cell("XFD1048576", "last")
        ));
        let many_rows: String = (1..=20_000)
            .map(|r| {
                format!(
                    r#"<row r="{r}">{}</row>"#,
                    xlsx_cell(&format!("A{r}"), "cell text")
                )
            })
            .collect();
        let bomb = docx_bomb(1 << 30, 1 << 30);
        let lying = docx_bomb(300 << 20, 4000);
        for (name, bytes) in [
            ("corners.xlsx", corners),
            ("rows.xlsx", minimal_xlsx(&many_rows)),
            ("bomb.docx", bomb),
            ("lying.docx", lying),
        ] {
            let _ = process(&extractor, name, bytes).await;
        }
        let after = peak_rss_kib().unwrap_or(before);
        let grown_mib = (after.saturating_sub(before)) / 1024;
        eprintln!("peak RSS grew by {grown_mib} MiB");
        assert!(grown_mib < 64, "peak memory grew by {grown_mib} MiB");
    }

    /// Every needle of needles.json is found in a chunk whose locator covers its place.
    async fn needles_found_with_locators() {
        check_needles(&Extractor::new(config()), |_| true).await;
        // Text that must not come out: tracked deletions, encrypted content, code-fence "headings".
        let extractor = Extractor::new(config());
        let docx = process(&extractor, "manual.docx", fixture("manual.docx"))
            .await
            .unwrap();
        assert!(docx.chunks.iter().all(|c| !c.text.contains("DELETEDMANGO")));
        let md = process(&extractor, "guide.md", fixture("guide.md"))
            .await
            .unwrap();
        assert!(md.chunks.iter().all(|c| !matches!(&c.locator,
            Some(ChunkLocator::Heading { path, .. }) if path.iter().any(|p| p.contains("ZINCFENCE")))));
    }

    async fn check_needles(extractor: &Extractor, files: impl Fn(&str) -> bool) {
        let needles = needles();
        let mut checked = 0;
        let mut missing = Vec::new();
        let mut cache: std::collections::HashMap<String, Processed> = Default::default();
        for needle in needles.iter().filter(|n| files(&n.file)) {
            if !cache.contains_key(&needle.file) {
                let processed = process(extractor, &needle.file, fixture(&needle.file))
                    .await
                    .unwrap_or_else(|e| panic!("{}: {} {e}", needle.file, e.code()));
                cache.insert(needle.file.clone(), processed);
            }
            let processed = &cache[&needle.file];
            let found = processed.chunks.iter().any(|c| {
                c.text.contains(&needle.needle) && needle.locator.matches(c.locator.as_ref())
            });
            checked += 1;
            if !found {
                let holders: Vec<_> = processed
                    .chunks
                    .iter()
                    .filter(|c| c.text.contains(&needle.needle))
                    .map(|c| c.locator.clone())
                    .collect();
                missing.push(format!(
                    "{} {:?} (in chunks at {holders:?})",
                    needle.file, needle.needle
                ));
            }
        }
        assert!(checked > 0, "no needles checked");
        assert!(
            missing.is_empty(),
            "needles not found at their place: {missing:#?}"
        );
        eprintln!("{checked} needles found");
    }

    /// The same needles when DOCX and XLSX go to the worker too (defense in depth): the
    /// extraction crosses the pipe intact.
    async fn needles_found_with_every_format_in_the_worker() {
        let everything = worker().formats([
            FileType::Pdf,
            FileType::Docx,
            FileType::Xlsx,
            FileType::Xls,
            FileType::Ods,
        ]);
        check_needles(
            &Extractor::new(IngestConfig::default().worker(everything)),
            |_| true,
        )
        .await;
    }

    /// The pdftotext backend finds the same needles in the PDFs.
    async fn needles_found_with_pdftotext() {
        let Some(program) = which("pdftotext") else {
            eprintln!("SKIPPED: pdftotext is not installed (apt-get install poppler-utils)");
            return;
        };
        let extractor = Extractor::new(config().pdf_backend(PdfBackend::Pdftotext { program }));
        check_needles(&extractor, |f| f.ends_with(".pdf")).await;
        let scanned = process(&extractor, "scanned.pdf", fixture("scanned.pdf"))
            .await
            .unwrap();
        assert!(scanned.chunks.is_empty() && scanned.warnings.iter().any(|w| w == NO_TEXT_LAYER));
        let encrypted = process(&extractor, "encrypted.pdf", fixture("encrypted.pdf")).await;
        assert_eq!(code(&encrypted), "encrypted");
    }

    fn which(program: &str) -> Option<std::path::PathBuf> {
        std::env::var_os("PATH")?
            .to_str()?
            .split(':')
            .map(|d| std::path::Path::new(d).join(program))
            .find(|p| p.is_file())
    }

    /// Without a worker, PDFs are refused unless in-process extraction was opted in.
    async fn pdf_in_process_only_when_opted_in() {
        let bare = Extractor::new(IngestConfig::default());
        let refused = process(&bare, "report.pdf", fixture("report.pdf")).await;
        assert_eq!(code(&refused), "unavailable");
        // DOCX, XLSX and text need no worker.
        assert_eq!(
            code(&process(&bare, "manual.docx", fixture("manual.docx")).await),
            "ok"
        );
        assert_eq!(
            code(&process(&bare, "inventory.xlsx", fixture("inventory.xlsx")).await),
            "ok"
        );
        let trusted = Extractor::new(IngestConfig::default().allow_in_process(true));
        let ok = process(&trusted, "report.pdf", fixture("report.pdf"))
            .await
            .unwrap();
        assert!(ok.chunks.iter().any(|c| c.text.contains("AMBERFALCON")));
    }

    async fn sniffing_tells_real_types() {
        let extractor = Extractor::new(config());
        let sniff = |bytes: &[u8], name: &str| extractor.sniff(bytes, name).map_err(|e| e.code());
        for (name, expected) in [
            ("report.pdf", FileType::Pdf),
            ("manual.docx", FileType::Docx),
            ("inventory.xlsx", FileType::Xlsx),
            ("inventory.xls", FileType::Xls),
            ("inventory.ods", FileType::Ods),
            ("notes.txt", FileType::Txt),
            ("guide.md", FileType::Md),
        ] {
            // The name does not matter: the bytes decide.
            assert_eq!(
                sniff(&fixture(name), "upload.bin"),
                Ok(if expected == FileType::Md {
                    FileType::Txt
                } else {
                    expected
                }),
                "{name}"
            );
            assert_eq!(sniff(&fixture(name), name), Ok(expected), "{name}");
        }
        // A real executable (this test binary) renamed .pdf, and a Windows PE header.
        let exe = std::fs::read(std::env::current_exe().unwrap()).unwrap();
        assert_eq!(
            sniff(&exe[..exe.len().min(64 * 1024)], "report.pdf"),
            Err("unsupported_media_type")
        );
        let mut pe = vec![0u8; 512];
        pe[..2].copy_from_slice(b"MZ");
        pe[0x3C] = 0x80;
        pe[0x80..0x84].copy_from_slice(b"PE\0\0");
        assert_eq!(sniff(&pe, "invoice.pdf"), Err("unsupported_media_type"));
        // HTML and XML renamed .txt.
        let html = b"<!DOCTYPE html>\n<html><head><title>x</title></head><body><script>alert(1)</script></body></html>";
        assert_eq!(sniff(html, "notes.txt"), Err("unsupported_media_type"));
        assert_eq!(
            sniff(b"  <html><body>hi</body></html>", "a.md"),
            Err("unsupported_media_type")
        );
        assert_eq!(
            sniff(b"<?xml version=\"1.0\"?><a>b</a>", "a.txt"),
            Err("unsupported_media_type")
        );
        // Random bytes, images, archives.
        let mut rng = Rng::new(42);
        for size in [16, 300, 4096, 100_000] {
            assert_eq!(
                sniff(&rng.bytes(size), "random.txt"),
                Err("unsupported_media_type"),
                "{size} random bytes"
            );
        }
        assert_eq!(
            sniff(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR", "a.pdf"),
            Err("unsupported_media_type")
        );
        assert_eq!(
            sniff(&zip_of(&[("a.txt", b"hello")]), "a.docx"),
            Err("unsupported_media_type")
        );
        let odt = zip_of(&[
            ("mimetype", b"application/vnd.oasis.opendocument.text"),
            ("content.xml", b"<x/>"),
        ]);
        assert_eq!(sniff(&odt, "a.ods"), Err("unsupported_media_type"));
        let pptx_types = DOCX_CONTENT_TYPES.replace(
            "wordprocessingml.document.main+xml",
            "presentationml.presentation.main+xml",
        );
        let pptx = zip_of(&[("[Content_Types].xml", pptx_types.as_bytes())]);
        assert_eq!(sniff(&pptx, "a.docx"), Err("unsupported_media_type"));
        // DOCX and XLSX are told apart by their parts, whatever their names.
        assert_eq!(
            sniff(&fixture("inventory.xlsx"), "manual.docx"),
            Ok(FileType::Xlsx)
        );
        // Empty and oversize uploads.
        assert_eq!(sniff(b"", "a.txt"), Err("invalid_input"));
        let small = Extractor::new(config().max_upload_bytes(100));
        assert_eq!(
            small.sniff(&[b'a'; 101], "a.txt").map_err(|e| e.code()),
            Err("too_large")
        );
        // A password-protected Office file is an OLE container with an EncryptedPackage stream.
        let mut ole = vec![0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1];
        ole.resize(1024, 0);
        ole.extend("EncryptedPackage".encode_utf16().flat_map(u16::to_le_bytes));
        assert_eq!(sniff(&ole, "secret.docx"), Err("encrypted"));
    }

    /// A DOCX whose document.xml inflates to `inflated` zero bytes while its directory declares
    /// `declared`.
    fn docx_bomb(inflated: u64, declared: u32) -> Vec<u8> {
        raw_zip(&[
            RawEntry::stored("[Content_Types].xml", DOCX_CONTENT_TYPES.as_bytes()),
            RawEntry::deflated("word/document.xml", deflate_zeros(inflated), declared),
        ])
    }

    /// A 1 GiB entry is refused from the directory, in milliseconds, without inflating it.
    async fn zip_bomb_refused_from_directory() {
        let extractor = Extractor::new(config());
        let bomb = docx_bomb(1 << 30, 1 << 30);
        eprintln!("bomb: {} bytes inflating to 1 GiB", bomb.len());
        let started = Instant::now();
        let result = process(&extractor, "bomb.docx", bomb).await;
        assert_eq!(code(&result), "too_large");
        assert_within(started, 1);
        // Many entries that add up past the total.
        let parts: Vec<RawEntry> = std::iter::once(RawEntry::stored(
            "[Content_Types].xml",
            DOCX_CONTENT_TYPES.as_bytes(),
        ))
        .chain((0..30).map(|i| {
            RawEntry::deflated(
                &format!("word/media/{i}.bin"),
                deflate_zeros(8 << 20),
                8 << 20,
            )
        }))
        .collect();
        let result = process(&extractor, "many.docx", raw_zip(&parts)).await;
        assert_eq!(code(&result), "too_large");
    }

    /// A directory that declares 4 GiB is refused, whatever the data.
    async fn huge_declared_sizes_refused() {
        let extractor = Extractor::new(config());
        let zip = raw_zip(&[
            RawEntry::stored("[Content_Types].xml", DOCX_CONTENT_TYPES.as_bytes()),
            RawEntry::deflated("word/document.xml", deflate_zeros(1000), 0xFFFF_FFF0),
        ]);
        assert_eq!(
            code(&process(&extractor, "huge.docx", zip).await),
            "too_large"
        );
        let xlsx = minimal_xlsx(r#"<row r="1"><c r="A1"><v>1</v></c></row>"#);
        let mut patched = xlsx.clone();
        // Patch every central-directory "uncompressed size" of the real XLSX to ~4 GiB.
        let mut i = 0;
        while i + 46 <= patched.len() {
            if patched[i..i + 4] == [0x50, 0x4b, 0x01, 0x02] {
                patched[i + 24..i + 28].copy_from_slice(&0xFFFF_FFF0u32.to_le_bytes());
            }
            i += 1;
        }
        assert_eq!(
            code(&process(&extractor, "huge.xlsx", patched).await),
            "too_large"
        );
    }

    /// A directory that declares a few KB for a part that inflates to 300 MiB: reading stops at
    /// the declared size.
    async fn lying_zip_directory_stopped_while_inflating() {
        let extractor = Extractor::new(config());
        let started = Instant::now();
        let result = process(&extractor, "lying.docx", docx_bomb(300 << 20, 4000)).await;
        let code = code(&result);
        assert!(code == "too_large" || code == "corrupt", "got {code}");
        assert_within(started, 2);
    }

    async fn compression_ratio_limit() {
        let extractor = Extractor::new(config());
        // 4 MiB of zeros at about 160:1, within every size limit but over the ratio limit.
        let result = process(&extractor, "ratio.docx", docx_bomb(4 << 20, 4 << 20)).await;
        assert_eq!(code(&result), "too_large");
        let lenient = Extractor::new({
            let mut c = config();
            c.max_compression_ratio = 1000;
            c
        });
        // With a lenient ratio it is read, and fails only as XML (zeros are not a document).
        let result = process(&lenient, "ratio.docx", docx_bomb(4 << 20, 4 << 20)).await;
        assert_eq!(code(&result), "corrupt");
    }

    /// Cells at A1 and XFD1048576 (calamine's worksheet_range would allocate 512 GiB): the
    /// streaming reader yields two rows, quickly.
    async fn xlsx_far_corner_cells_stay_small() {
        let extractor = Extractor::new(config());
        let xlsx = minimal_xlsx(&format!(
            r#"<row r="1">{}</row><row r="1048576">{}</row>"#,
            xlsx_cell("A1", "first corner"),
            xlsx_cell("XFD1048576", "last corner")
        ));
        let started = Instant::now();
        let processed = process(&extractor, "corners.xlsx", xlsx).await.unwrap();
        assert_within(started, 2);
        let text: String = processed.chunks.iter().map(|c| c.text.as_str()).collect();
        assert!(text.contains("first corner") && text.contains("last corner"));
        assert!(text.len() < 200, "gaps are capped: {} bytes", text.len());
        let last = processed
            .chunks
            .iter()
            .find(|c| c.text.contains("last corner"))
            .unwrap();
        assert!(matches!(
            &last.locator,
            Some(ChunkLocator::Sheet {
                last_row: 1_048_576,
                ..
            })
        ));
    }

    async fn cell_and_row_limits() {
        let rows: String = (1..=3000)
            .map(|r| {
                format!(
                    r#"<row r="{r}">{}{}</row>"#,
                    xlsx_cell(&format!("A{r}"), "a"),
                    xlsx_cell(&format!("B{r}"), "b")
                )
            })
            .collect();
        let xlsx = minimal_xlsx(&rows);
        let mut cells = config();
        cells.max_cells = 5000;
        assert_eq!(
            code(&process(&Extractor::new(cells), "cells.xlsx", xlsx.clone()).await),
            "too_large"
        );
        let mut row_limit = config();
        row_limit.max_rows = 2000;
        assert_eq!(
            code(&process(&Extractor::new(row_limit), "rows.xlsx", xlsx.clone()).await),
            "too_large"
        );
        let processed = process(&Extractor::new(config()), "rows.xlsx", xlsx)
            .await
            .unwrap();
        assert!(processed.chunks.len() > 1);
        let mut sheets = config();
        sheets.max_sheets = 1;
        let result = process(
            &Extractor::new(sheets),
            "inventory.xlsx",
            fixture("inventory.xlsx"),
        )
        .await;
        assert_eq!(code(&result), "too_large");
    }

    /// Parts calamine reads whole (shared strings, styles) are held to `max_loaded_part_bytes`;
    /// a worksheet of the same size is streamed and allowed.
    async fn parts_read_whole_have_a_smaller_limit() {
        let mut config = config();
        config.max_compression_ratio = 100_000;
        config.max_loaded_part_bytes = 1 << 20;
        let extractor = Extractor::new(config);
        let padding = format!("<sst>{}</sst>", " ".repeat(2 << 20));
        let big_strings = minimal_xlsx_with(
            &format!(r#"<row r="1">{}</row>"#, xlsx_cell("A1", "x")),
            &[("xl/sharedStrings.xml", padding.as_bytes())],
        );
        assert_eq!(
            code(&process(&extractor, "strings.xlsx", big_strings).await),
            "too_large"
        );
        let big_sheet = minimal_xlsx(&format!(
            r#"<row r="1">{}</row>{}"#,
            xlsx_cell("A1", "streamed sheet"),
            " ".repeat(2 << 20)
        ));
        let processed = process(&extractor, "sheet.xlsx", big_sheet).await.unwrap();
        assert!(
            processed
                .chunks
                .iter()
                .any(|c| c.text.contains("streamed sheet"))
        );
    }

    /// A 3,000-row table: every row on its own line, whole, in chunks of about the target size.
    async fn large_docx_table_is_chunked_by_rows() {
        let cell = |t: &str| format!("<w:tc><w:p><w:r><w:t>{t}</w:t></w:r></w:p></w:tc>");
        let rows: String = (1..=3000)
            .map(|r| {
                format!(
                    "<w:tr>{}{}</w:tr>",
                    cell(&format!("item {r}")),
                    cell(&format!("price {r}"))
                )
            })
            .collect();
        let body = docx_body(&["Price list"])
            .replace("</w:body>", &format!("<w:tbl>{rows}</w:tbl></w:body>"));
        let processed = process(&Extractor::new(config()), "table.docx", minimal_docx(&body))
            .await
            .unwrap();
        assert!(
            processed.chunks.len() > 5,
            "{} chunks",
            processed.chunks.len()
        );
        let all: String = processed
            .chunks
            .iter()
            .map(|c| c.text.as_str())
            .collect::<Vec<_>>()
            .join("\n");
        for r in [1, 1500, 3000] {
            assert!(
                all.lines().any(|l| l == format!("item {r} | price {r}")),
                "row {r}"
            );
        }
        assert!(
            processed
                .chunks
                .iter()
                .all(|c| chat_core::text::estimate_tokens(&c.text) <= 800)
        );
    }

    /// Entity definitions are never expanded: a DTD in an Office part is refused, and nothing
    /// grows.
    async fn billion_laughs_cannot_expand() {
        let extractor = Extractor::new(config());
        let (dtd, laugh) = billion_laughs_prolog("w:document");
        let body = docx_body(&[laugh]).replacen("?>", &format!("?>{dtd}"), 1);
        let started = Instant::now();
        let result = process(&extractor, "laughs.docx", minimal_docx(&body)).await;
        assert_eq!(code(&result), "corrupt");
        // An undefined entity without a DTD is malformed too.
        let result = process(
            &extractor,
            "entity.docx",
            minimal_docx(&docx_body(&["&custom;"])),
        )
        .await;
        assert_eq!(code(&result), "corrupt");
        // In a workbook (calamine's parser), the same attack fails or yields no expansion.
        let (dtd, laugh) = billion_laughs_prolog("worksheet");
        let sheet = format!(
            r#"<?xml version="1.0" encoding="UTF-8"?>{dtd}<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData><row r="1">{}</row></sheetData></worksheet>"#,
            xlsx_cell("A1", laugh)
        );
        let result = process(&extractor, "laughs.xlsx", minimal_xlsx(&sheet)).await;
        assert_not_expanded(&result);
        // In ODS (calamine, in the worker), with the DTD inside content.xml.
        let (dtd, laugh) = billion_laughs_prolog("office:document-content");
        let content = format!(
            r#"<?xml version="1.0" encoding="UTF-8"?>{dtd}<office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0"><office:body><office:spreadsheet><table:table table:name="S"><table:table-row><table:table-cell office:value-type="string"><text:p>{laugh}</text:p></table:table-cell></table:table-row></table:table></office:spreadsheet></office:body></office:document-content>"#
        );
        let ods = zip_of(&[
            (
                "mimetype",
                b"application/vnd.oasis.opendocument.spreadsheet",
            ),
            ("content.xml", content.as_bytes()),
        ]);
        let result = process(&extractor, "laughs.ods", ods).await;
        assert_not_expanded(&result);
        assert_within(started, 10);
    }

    /// A parse of a billion-laughs file failed, or kept the entities unexpanded.
    fn assert_not_expanded(result: &Result<Processed, IngestError>) {
        eprintln!("billion laughs: {}", code(result));
        if let Ok(processed) = result {
            let expanded = processed
                .chunks
                .iter()
                .any(|c| c.text.len() > 1000 || c.text.contains("lollol"));
            assert!(!expanded, "entities were expanded");
        }
    }

    async fn encrypted_and_scanned_pdfs() {
        let extractor = Extractor::new(config());
        let encrypted = process(&extractor, "encrypted.pdf", fixture("encrypted.pdf")).await;
        assert_eq!(code(&encrypted), "encrypted");
        let scanned = process(&extractor, "scanned.pdf", fixture("scanned.pdf"))
            .await
            .unwrap();
        assert!(scanned.chunks.is_empty());
        assert_eq!(scanned.warnings, vec![NO_TEXT_LAYER.to_owned()]);
        assert_eq!(scanned.page_count, Some(2));
    }

    /// Binary fixtures cut in half are `corrupt`.
    async fn truncated_files_are_corrupt() {
        let extractor = Extractor::new(config());
        for name in [
            "report.pdf",
            "manual_long.pdf",
            "manual.docx",
            "inventory.xlsx",
            "inventory.xls",
            "inventory.ods",
        ] {
            let bytes = fixture(name);
            for cut in [bytes.len() / 2, bytes.len() * 9 / 10] {
                let result = process(&extractor, name, bytes[..cut].to_vec()).await;
                assert_eq!(code(&result), "corrupt", "{name} cut at {cut}");
            }
        }
    }

    /// A worker that never answers is killed at the wall-clock limit.
    async fn worker_killed_past_wall_clock() {
        let Some(sleep) = which("sleep") else {
            eprintln!("SKIPPED: no sleep program");
            return;
        };
        let mut config = IngestConfig::default().worker(WorkerConfig::new(sleep, ["30"]));
        config.extraction_timeout = Duration::from_secs(1);
        let started = Instant::now();
        let result = process(&Extractor::new(config), "report.pdf", fixture("report.pdf")).await;
        assert_eq!(code(&result), "timeout");
        assert_within(started, 5);
    }

    /// An ODS that asks calamine for a 17-billion-cell range: in the worker, the address-space
    /// limit makes it a clean `too_large` (or the CPU limit a `timeout`); the host is untouched.
    async fn worker_memory_limit_is_a_clean_error() {
        let mut config = config();
        config.worker_memory_bytes = 512 << 20;
        config.extraction_timeout = Duration::from_secs(10);
        let ods = minimal_ods(
            r#"<table:table table:name="S"><table:table-row table:number-rows-repeated="1048575"><table:table-cell table:number-columns-repeated="16383"/></table:table-row><table:table-row><table:table-cell table:number-columns-repeated="16383"/><table:table-cell office:value-type="string"><text:p>far</text:p></table:table-cell></table:table-row></table:table>"#,
        );
        let started = Instant::now();
        let result = process(&Extractor::new(config), "huge.ods", ods).await;
        let code = code(&result);
        eprintln!("huge ODS in the worker: {code} in {:?}", started.elapsed());
        assert!(
            matches!(code, "too_large" | "timeout" | "ok"),
            "got {code}: {result:?}"
        );
        assert_within(started, 15);
    }

    /// Workers that misbehave after reading their input (this binary with `--hog`: allocate
    /// 4 GiB; `--spin`: burn CPU): the limits the host set on the child's pid turn them into
    /// `too_large` and `timeout`.
    async fn worker_limits_hold_for_a_hostile_child() {
        let exe = std::env::current_exe().unwrap();
        let mut hog = IngestConfig::default().worker(WorkerConfig::new(&exe, ["--hog"]));
        hog.worker_memory_bytes = 256 << 20;
        let started = Instant::now();
        let result = process(&Extractor::new(hog), "report.pdf", fixture("report.pdf")).await;
        assert_eq!(code(&result), "too_large", "{result:?}");
        assert_within(started, 5);

        let mut spin = IngestConfig::default().worker(WorkerConfig::new(&exe, ["--spin"]));
        spin.extraction_timeout = Duration::from_secs(1);
        let started = Instant::now();
        let result = process(&Extractor::new(spin), "report.pdf", fixture("report.pdf")).await;
        assert_eq!(code(&result), "timeout", "{result:?}");
        assert_within(started, 6);
    }

    async fn worker_missing_is_unavailable() {
        let config = IngestConfig::default().worker(WorkerConfig::new(
            "/nonexistent/extract-worker",
            ["--worker"],
        ));
        let result = process(&Extractor::new(config), "report.pdf", fixture("report.pdf")).await;
        assert_eq!(code(&result), "unavailable");
    }

    async fn text_limit_and_timeout() {
        let mut small = config();
        small.max_text_bytes = 1000;
        let result = process(
            &Extractor::new(small.clone()),
            "manual_long.pdf",
            fixture("manual_long.pdf"),
        )
        .await;
        assert_eq!(code(&result), "too_large");
        let text = "many words in a line\n".repeat(2000);
        let result = process(&Extractor::new(small), "big.txt", text.into_bytes()).await;
        assert_eq!(code(&result), "too_large");
        // A deadline that has passed before the work starts: the extractor gives up.
        let mut instant = config();
        instant.extraction_timeout = Duration::ZERO;
        let rows: String = (1..=5000)
            .map(|r| format!(r#"<row r="{r}">{}</row>"#, xlsx_cell(&format!("A{r}"), "x")))
            .collect();
        let result = extract_in_process(&minimal_xlsx(&rows), FileType::Xlsx, &instant);
        assert_eq!(result.err().map(|e| e.code()), Some("timeout"));
    }

    /// Truncations, byte flips and zeroed ranges of every fixture, and random bytes: every run
    /// ends with a result (never a panic of this process) within the time limit.
    async fn randomized_mutations_never_panic_or_hang() {
        let mut config = config();
        config.extraction_timeout = Duration::from_secs(10);
        let limit = config.extraction_timeout + Duration::from_secs(3);
        let extractor = Extractor::new(config);
        let mut rng = Rng::new(0x5eed);
        let mut runs = 0usize;
        let mut outcomes: std::collections::BTreeMap<&'static str, usize> = Default::default();
        let mut slowest = Duration::ZERO;
        let started = Instant::now();
        for name in document_fixtures() {
            let original = fixture(&name);
            let rounds = if name.ends_with(".pdf") { 12 } else { 25 };
            for round in 0..rounds {
                let mut bytes = original.clone();
                match round % 3 {
                    0 => bytes.truncate(rng.below(bytes.len()).max(1)),
                    1 => {
                        for _ in 0..=rng.below(8) {
                            let i = rng.below(bytes.len());
                            bytes[i] ^= 1 << rng.below(8);
                        }
                    }
                    _ => {
                        let start = rng.below(bytes.len());
                        let end = (start + 1 + rng.below(256)).min(bytes.len());
                        bytes[start..end].fill(0);
                    }
                }
                let t = Instant::now();
                let result = process(&extractor, &name, bytes).await;
                let took = t.elapsed();
                assert!(took < limit, "{name} round {round} took {took:?}");
                slowest = slowest.max(took);
                *outcomes.entry(code(&result)).or_default() += 1;
                runs += 1;
            }
        }
        for size in [1, 7, 64, 1000, 65_536] {
            for _ in 0..4 {
                let result = process(&extractor, "random.bin", rng.bytes(size)).await;
                *outcomes.entry(code(&result)).or_default() += 1;
                runs += 1;
            }
        }
        eprintln!(
            "{runs} mutated inputs in {:?}, slowest {slowest:?}: {outcomes:?}",
            started.elapsed()
        );
    }
}

#[cfg(feature = "documents")]
fn main() -> std::process::ExitCode {
    use std::panic::{AssertUnwindSafe, catch_unwind};

    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("--worker") => return chat_core::ingest::documents::worker::run_worker(),
        Some("--hog") => hostile_worker(true),
        Some("--spin") => hostile_worker(false),
        _ => {}
    }
    let filters: Vec<&String> = args.iter().filter(|a| !a.starts_with('-')).collect();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (mut passed, mut failed) = (0usize, 0usize);
    for (name, test) in tests::TESTS {
        if !filters.is_empty() && !filters.iter().any(|f| name.contains(f.as_str())) {
            continue;
        }
        let started = std::time::Instant::now();
        let outcome = catch_unwind(AssertUnwindSafe(|| runtime.block_on(test())));
        let took = started.elapsed();
        match outcome {
            Ok(()) => {
                passed += 1;
                println!("test {name} ... ok ({took:.2?})");
            }
            Err(_) => {
                failed += 1;
                println!("test {name} ... FAILED ({took:.2?})");
            }
        }
    }
    println!("\n{passed} passed, {failed} failed");
    if failed == 0 {
        std::process::ExitCode::SUCCESS
    } else {
        std::process::ExitCode::FAILURE
    }
}

/// A worker gone wrong: reads its request (so the host has set its limits), then allocates
/// and touches 4 GiB, or spins forever.
#[cfg(feature = "documents")]
fn hostile_worker(allocate: bool) -> ! {
    use std::io::Read;
    let mut input = Vec::new();
    let _ = std::io::stdin().read_to_end(&mut input);
    if allocate {
        let big = vec![1u8; 4 << 30];
        println!(
            "{}",
            big.iter().step_by(4096).map(|b| u64::from(*b)).sum::<u64>()
        );
        std::process::exit(0);
    }
    let mut x = 0u64;
    loop {
        x = std::hint::black_box(x.wrapping_add(1));
    }
}

#[cfg(not(feature = "documents"))]
fn main() {
    println!("documents feature off: 0 passed, 0 failed");
}
