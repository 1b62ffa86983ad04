#!/usr/bin/env bash
# Document extraction benchmark: time per file, MB/s per format, peak memory and needle
# recall of the `extract` example (the same sniff -> extract -> chunk pipeline the engine runs),
# beside poppler's pdftotext on the same PDFs in the same run.
#
#   bash benches/extraction.sh            # prints the table
#   bash benches/extraction.sh --write    # also replaces the "Document extraction" section
#                                         # of benches/README.md
#
# Installs what it needs when missing: poppler-utils (apt-get), python-docx, openpyxl and
# reportlab (pip). LibreOffice (soffice), when installed, adds XLS and ODS copies of the
# workbook. The corpus is generated (seeded) in a temporary folder, with known needles.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
RUNS="${RUNS:-5}"

if [ ! -x /usr/bin/time ]; then
    echo "installing time" >&2
    apt-get install -y -qq time >/dev/null
fi
if ! command -v pdftotext >/dev/null; then
    echo "installing poppler-utils" >&2
    apt-get install -y -qq poppler-utils >/dev/null
fi
if ! python3 -c "import docx, openpyxl, reportlab" 2>/dev/null; then
    echo "installing python-docx openpyxl reportlab" >&2
    pip install -q python-docx openpyxl reportlab >/dev/null
fi

(cd "$ROOT" && cargo build -q --release -p extract)
EXTRACT="$TARGET/release/extract"
CORPUS="$(mktemp -d)"
trap 'rm -rf "$CORPUS"' EXIT

python3 - "$EXTRACT" "$CORPUS" "$RUNS" "$ROOT" "${1:-}" <<'PY'
import datetime, json, os, random, re, shutil, statistics, subprocess, sys, tempfile, time

extract, corpus, runs, root, mode = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5]
fixtures = os.path.join(root, "chat-core/tests/fixtures/documents")
rng = random.Random(2024)
WORDS = ("the service ticket customer portal invoice refund account billing support agent shipment "
         "order warranty device network password policy update release report").split()
needles = []  # (file, needle, kind, value)

def filler(n):
    return " ".join(rng.choice(WORDS) for _ in range(n))

def token(i):
    return "NEEDLE" + "".join(chr(65 + (i * 7 + k * 3) % 26) for k in range(6)) + str(i)

def make_corpus():
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas
    import docx, openpyxl
    n = 0
    # PDF: 300 pages of prose, a needle on every 30th page.
    path = os.path.join(corpus, "big.pdf")
    c = canvas.Canvas(path, pagesize=A4)
    for p in range(1, 301):
        y = 800
        for i in range(45):
            text = filler(12)
            if p % 30 == 0 and i == 10:
                n += 1; needle = token(n); needles.append(("big.pdf", needle, "page", p))
                text = f"reference {needle} on this page"
            c.drawString(50, y, text); y -= 16
        c.showPage()
    c.save()
    for name in ("report.pdf", "manual_long.pdf"):
        shutil.copy(os.path.join(fixtures, name), os.path.join(corpus, name))
    for item in json.load(open(os.path.join(fixtures, "needles.json"))):
        if item["file"] in ("report.pdf", "manual_long.pdf", "manual.docx", "inventory.xlsx", "guide.md"):
            loc = item["locator"]
            value = {"page": loc.get("page"), "heading": loc.get("path"), "sheet": [loc.get("sheet"), loc.get("row")],
                     "lines": [loc.get("start"), loc.get("end")]}[loc["type"]]
            needles.append((item["file"], item["needle"], loc["type"], value))
    for name in ("manual.docx", "inventory.xlsx", "guide.md"):
        shutil.copy(os.path.join(fixtures, name), os.path.join(corpus, name))
    # DOCX: 60 sections of 50 paragraphs, a needle in every 6th section.
    d = docx.Document()
    for s in range(1, 61):
        d.add_heading(f"Section {s}", 1)
        for i in range(50):
            text = filler(25)
            if s % 6 == 0 and i == 25:
                n += 1; needle = token(n); needles.append(("big.docx", needle, "heading", [f"Section {s}"]))
                text = f"{text} {needle}"
            d.add_paragraph(text)
    d.save(os.path.join(corpus, "big.docx"))
    # XLSX: 2 sheets of 20,000 rows x 6 columns, needles every 2,000 rows.
    wb = openpyxl.Workbook()
    for si, sheet_name in enumerate(("Orders", "Returns")):
        ws = wb.active if si == 0 else wb.create_sheet()
        ws.title = sheet_name
        ws.append(["id", "customer", "product", "amount", "date", "note"])
        for r in range(2, 20_001):
            note = filler(4)
            if r % 2000 == 0:
                n += 1; needle = token(n); needles.append(("big.xlsx", needle, "sheet", [sheet_name, r]))
                note = needle
            ws.append([r, filler(2), filler(2), round(rng.uniform(1, 999), 2),
                       datetime.date(2024, 1, 1) + datetime.timedelta(days=r % 365), note])
    wb.save(os.path.join(corpus, "big.xlsx"))
    soffice = shutil.which("soffice")
    if soffice:
        with tempfile.TemporaryDirectory() as tmp:
            for fmt, filt in (("xls", "xls:MS Excel 97"), ("ods", "ods")):
                subprocess.run([soffice, "--headless", f"-env:UserInstallation=file://{tmp}/p", "--convert-to",
                                filt, "--outdir", corpus, os.path.join(corpus, "big.xlsx")],
                               check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                for (f, nd, kind, value) in list(needles):
                    if f == "big.xlsx":
                        needles.append((f"big.{fmt}", nd, kind, value))
    # TXT: about 5 MB of lines, a needle every 10,000 lines.
    lines = []
    for i in range(1, 80_001):
        text = filler(10)
        if i % 10_000 == 0:
            n += 1; needle = token(n); needles.append(("big.txt", needle, "lines", [i, i]))
            text = f"{text} {needle}"
        lines.append(text)
    open(os.path.join(corpus, "big.txt"), "w").write("\n".join(lines) + "\n")
    # MD: 200 sections.
    parts = []
    for s in range(1, 201):
        parts.append(f"## Topic {s}\n")
        for i in range(30):
            text = filler(15)
            if s % 20 == 0 and i == 15:
                n += 1; needle = token(n); needles.append(("big.md", needle, "heading", [f"Topic {s}"]))
                text = f"{text} {needle}"
            parts.append(text + "\n")
    open(os.path.join(corpus, "big.md"), "w").write("\n".join(parts))

def run(cmd):
    """Runs a command under GNU time; returns (wall seconds, CPU seconds of the process and its
    waited-for children such as the worker, their peak RSS in KiB, stdout). CPU time comes
    from wait4 (microseconds); the peak from GNU time, a small process, because Linux carries
    a parent's high-water mark across fork and exec and this Python process is large."""
    with tempfile.NamedTemporaryFile("r") as rss:
        start = time.perf_counter()
        proc = subprocess.Popen(["/usr/bin/time", "-f", "%M", "-o", rss.name, *cmd],
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        out = proc.stdout.read()
        _, _, usage = os.wait4(proc.pid, 0)
        elapsed = time.perf_counter() - start
        peak = int(rss.read().strip().splitlines()[-1])
    return elapsed, usage.ru_utime + usage.ru_stime, peak, out.decode("utf-8", "replace")

def located(chunk_locator, kind, value):
    if chunk_locator is None:
        return False
    t = chunk_locator["type"]
    if kind == "page" and t == "page":
        return chunk_locator["page"] <= value <= (chunk_locator.get("end_page") or chunk_locator["page"])
    if kind == "heading" and t == "heading":
        return chunk_locator["path"][-len(value):] == value
    if kind == "sheet" and t == "sheet":
        return chunk_locator["sheet"] == value[0] and chunk_locator["first_row"] <= value[1] <= chunk_locator["last_row"]
    if kind == "lines" and t == "lines":
        return chunk_locator["start"] <= value[0] and value[1] <= chunk_locator["end"]
    return False

def recall_chunks(name, out):
    chunks = [json.loads(l) for l in out.splitlines() if l.strip()]
    mine = [nd for nd in needles if nd[0] == name]
    found = sum(any(nd[1] in c.get("text", "") and located(c.get("locator"), nd[2], nd[3]) for c in chunks) for nd in mine)
    return found, len(mine)

def recall_text(name, out):
    flat = re.sub(r"\s+", " ", out)
    mine = [nd for nd in needles if nd[0] == name]
    return sum(re.sub(r"\s+", " ", nd[1]) in flat for nd in mine), len(mine)

def measure(label, name, cmd, recall):
    times, cpus, peaks, out = [], [], [], ""
    for _ in range(runs):
        t, cpu, peak, out = run(cmd)
        times.append(t); cpus.append(cpu); peaks.append(peak)
    size = os.path.getsize(os.path.join(corpus, name))
    cpu = statistics.median(cpus)
    found, total = recall(name, out)
    return {"tool": label, "file": name, "size": size, "seconds": statistics.median(times), "cpu": cpu,
            "mbps": size / cpu / 1e6, "peak_mib": max(peaks) / 1024, "found": found, "total": total}

make_corpus()
rows = []
files = sorted(os.listdir(corpus), key=lambda f: (f.rsplit(".", 1)[-1], f))
for name in files:
    path = os.path.join(corpus, name)
    rows.append(measure("extract", name, [extract, path], recall_chunks))
    if name.endswith(".pdf"):
        rows.append(measure("extract --pdftotext", name, [extract, "--pdftotext", path], recall_chunks))
        rows.append(measure("pdftotext", name, ["pdftotext", "-q", "-enc", "UTF-8", path, "-"], recall_text))

lines = ["| tool | file | size | CPU time | wall time | MB/s (CPU) | peak RSS | needles |",
         "|---|---|---:|---:|---:|---:|---:|---:|"]
for r in rows:
    lines.append(f"| {r['tool']} | {r['file']} | {r['size'] / 1024:,.0f} KiB | {r['cpu'] * 1000:,.0f} ms | "
                 f"{r['seconds'] * 1000:,.0f} ms | {r['mbps']:.2f} | {r['peak_mib']:.0f} MiB | {r['found']}/{r['total']} |")
# Per format, and PDF ratios against pdftotext.
by_format = {}
for r in rows:
    if r["tool"] == "extract":
        f = by_format.setdefault(r["file"].rsplit(".", 1)[-1], [0, 0.0, 0, 0])
        f[0] += r["size"]; f[1] += r["cpu"]; f[2] += r["found"]; f[3] += r["total"]
fmt_lines = ["| format | MB/s of CPU time (all files) | needles |", "|---|---:|---:|"]
for fmt, (size, secs, found, total) in sorted(by_format.items()):
    fmt_lines.append(f"| {fmt} | {size / secs / 1e6:.2f} | {found}/{total} |")
ratio_lines = ["| PDF | CPU time: extract (pdf-extract in the worker) / pdftotext | extract --pdftotext / pdftotext |", "|---|---:|---:|"]
for name in files:
    if name.endswith(".pdf"):
        get = lambda tool: next(r for r in rows if r["tool"] == tool and r["file"] == name)["cpu"]
        ratio_lines.append(f"| {name} | {get('extract') / get('pdftotext'):.2f}x | {get('extract --pdftotext') / get('pdftotext'):.2f}x |")
ours = [r for r in rows if r["tool"] == "extract"]
pdf_ratios = [(next(r for r in rows if r["tool"] == t and r["file"] == n)["cpu"] /
               next(r for r in rows if r["tool"] == "pdftotext" and r["file"] == n)["cpu"])
              for n in files if n.endswith(".pdf") and n.startswith("big") for t in ("extract", "extract --pdftotext")]
summary = (f"Summary: {sum(r['found'] for r in ours)} of {sum(r['total'] for r in ours)} needles found at their "
           f"place; on the large PDF, CPU time is {pdf_ratios[0]:.2f}x pdftotext's with pdf-extract in the worker and "
           f"{pdf_ratios[1]:.2f}x through the pdftotext backend (goal: at most 2x); peak RSS at most "
           f"{max(r['peak_mib'] for r in ours):.0f} MiB.")
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "unknown CPU")
header = (f"Machine: {os.cpu_count()} cores, {cpu}; {datetime.date.today().isoformat()}. "
          f"`bash benches/extraction.sh` (release build of `examples/extract`; each figure is the median of {runs} "
          f"whole process runs: start-up, sniffing, extraction (PDF, XLS and ODS in the worker process), chunking "
          f"and JSON output; CPU time and peak RSS include the worker; the machine is shared, so CPU time is the "
          f"steadier figure). "
          f"Needles count only when found in a chunk whose locator covers their page, heading, rows or lines; "
          f"for raw pdftotext, when found in its text.")
section = "\n".join(["## Document extraction", "", header, "", summary, "", *lines, "", *fmt_lines, "", *ratio_lines, ""])
print(section)
if mode == "--write":
    readme = os.path.join(root, "benches/README.md")
    text = open(readme).read() if os.path.exists(readme) else "# Benchmarks\n"
    pattern = re.compile(r"^## Document extraction\n.*?(?=^## |\Z)", re.S | re.M)
    text = pattern.sub(section + "\n", text) if pattern.search(text) else text.rstrip("\n") + "\n\n" + section
    open(readme, "w").write(text)
    print(f"wrote {readme}", file=sys.stderr)
PY
