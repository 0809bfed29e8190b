"""The hostile-file corpus (issue 13): every file is generated here, deterministically, into a folder.

`build(folder)` writes each file and returns {file name: what the upload must answer}: an HTTP status, or a
tuple of acceptable ones where the answer legitimately depends on the reader (a clear 4xx either way).
Workbooks are written by hand (zipfile and raw XML), so each can be exactly as broken as intended.
"""
from __future__ import annotations

import io
import struct
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

DATA = Path(__file__).parents[1] / "data"
Expect = int | tuple[int, ...]
REFUSED = (400, 413, 415, 422)
_NS = 'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"'
_REL_NS = 'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"'
_CONTENT_TYPES = (
    '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/'
    'content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.'
    'relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/'
    'workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
    '<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-'
    'officedocument.spreadsheetml.worksheet+xml"/></Types>'
)
_RELS = ('<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/'
         '2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/'
         '2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>')
_WORKBOOK = (f'<?xml version="1.0" encoding="UTF-8"?><workbook {_NS} {_REL_NS}><sheets><sheet name="Sheet1" '
             'sheetId="1" r:id="rId1"/></sheets></workbook>')
_WB_RELS = ('<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/'
            'package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/'
            'officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/></Relationships>')


def sheet_xml(rows: str, *, dimension: str | None = None, head: str = "") -> str:
    dim = f'<dimension ref="{dimension}"/>' if dimension else ""
    return (f'<?xml version="1.0" encoding="UTF-8"?>{head}<worksheet {_NS}>{dim}<sheetData>{rows}</sheetData>'
            "</worksheet>")


def cell(ref: str, value: object) -> str:
    if isinstance(value, str):
        return f'<c r="{ref}" t="inlineStr"><is><t>{value}</t></is></c>'
    return f'<c r="{ref}"><v>{value}</v></c>'


def row(n: int, *cells: str) -> str:
    return f'<row r="{n}">{"".join(cells)}</row>'


def xlsx(sheet: str | bytes | None, *, extra: dict[str, bytes | str] | None = None) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("[Content_Types].xml", _CONTENT_TYPES)
        zf.writestr("_rels/.rels", _RELS)
        zf.writestr("xl/workbook.xml", _WORKBOOK)
        zf.writestr("xl/_rels/workbook.xml.rels", _WB_RELS)
        if sheet is not None:
            zf.writestr("xl/worksheets/sheet1.xml", sheet)
        for name, data in (extra or {}).items():
            zf.writestr(name, data)
    return buf.getvalue()


def _valid_sheet() -> str:
    return sheet_xml(row(1, cell("A1", "x"), cell("B1", "y")) + "".join(
        row(i, cell(f"A{i}", i), cell(f"B{i}", i % 3)) for i in range(2, 30)), dimension="A1:B29")


def _streamed_xlsx(dest: Path, *, head: bytes, filler: bytes, repeat: int, tail: bytes) -> None:
    """A workbook whose sheet is `head + filler * repeat + tail`, compressed as it is written."""
    with zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        for name, text in (("[Content_Types].xml", _CONTENT_TYPES), ("_rels/.rels", _RELS),
                           ("xl/workbook.xml", _WORKBOOK), ("xl/_rels/workbook.xml.rels", _WB_RELS)):
            zf.writestr(name, text)
        with zf.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as f:
            f.write(head)
            for _ in range(repeat):
                f.write(filler)
            f.write(tail)


def whitespace_bomb(dest: Path) -> None:
    """Issue 13 row 5: a ~2 MB workbook holding 2 GB of whitespace between two cells."""
    start = sheet_xml(row(1, cell("A1", "x"), cell("B1", "y"))).encode()
    cut = start.index(b"</sheetData>")
    _streamed_xlsx(dest, head=start[:cut], filler=b" " * (1 << 20), repeat=2048,
                   tail=(row(2, cell("A2", 1), cell("B2", 2)) + "</sheetData></worksheet>").encode())


def million_rows(dest: Path) -> None:
    """Issue 13 row 5: a ~120 KB workbook of 1,000,000 rows (the same short row again and again)."""
    start = sheet_xml(row(1, cell("A1", "x"), cell("B1", "y"))).encode()
    cut = start.index(b"</sheetData>")
    _streamed_xlsx(dest, head=start[:cut], filler=b'<row><c t="b"><v>1</v></c><c t="b"><v>0</v></c></row>' * 1000,
                   repeat=1000, tail=b"</sheetData></worksheet>")


def shared_strings_bomb(dest: Path) -> None:
    """sharedStrings.xml of 600 MB (one string repeated) behind a small sheet."""
    with zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        for name, text in (("[Content_Types].xml", _CONTENT_TYPES), ("_rels/.rels", _RELS),
                           ("xl/workbook.xml", _WORKBOOK), ("xl/_rels/workbook.xml.rels", _WB_RELS)):
            zf.writestr(name, text)
        zf.writestr("xl/worksheets/sheet1.xml", sheet_xml(row(1, '<c r="A1" t="s"><v>0</v></c>',
                                                              '<c r="B1" t="s"><v>1</v></c>')))
        with zf.open("xl/sharedStrings.xml", "w", force_zip64=True) as f:
            f.write(f'<sst {_NS}><si><t>'.encode())
            for _ in range(600):
                f.write(b"A" * (1 << 20))
            f.write(b"</t></si><si><t>b</t></si></sst>")


def deflate_bomb(dest: Path) -> None:
    """A classic zip bomb: one 1 GB part of zeros, ~1 MB compressed, next to a valid sheet."""
    with zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        zf.writestr("[Content_Types].xml", _CONTENT_TYPES)
        zf.writestr("_rels/.rels", _RELS)
        zf.writestr("xl/workbook.xml", _WORKBOOK)
        zf.writestr("xl/_rels/workbook.xml.rels", _WB_RELS)
        zf.writestr("xl/worksheets/sheet1.xml", _valid_sheet())
        with zf.open("xl/media/zeros.bin", "w", force_zip64=True) as f:
            for _ in range(1024):
                f.write(bytes(1 << 20))


def _lying_sizes(data: bytes) -> bytes:
    """A zip whose directory declares each part 1 byte long, whatever it holds."""
    out = bytearray(data)
    for sig, size_at in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
        pos = out.find(sig)
        while pos >= 0:
            out[pos + size_at:pos + size_at + 4] = struct.pack("<I", 1)
            pos = out.find(sig, pos + 4)
    return bytes(out)


def _many_parts() -> bytes:
    return xlsx(_valid_sheet(), extra={f"xl/junk/{i}.xml": "" for i in range(12_000)})


def _billion_laughs() -> str:
    ents = '<!ENTITY a0 "lol">' + "".join(f'<!ENTITY a{i} "{f"&a{i - 1};" * 10}">' for i in range(1, 10))
    return sheet_xml(row(1, cell("A1", "&a9;"), cell("B1", "y")) + row(2, cell("A2", 1), cell("B2", 2)),
                     head=f"<!DOCTYPE worksheet [{ents}]>")


def _parquet(table: pa.Table, **kwargs: object) -> bytes:
    buf = io.BytesIO()
    pq.write_table(table, buf, **kwargs)  # type: ignore[arg-type]
    return buf.getvalue()


def _good_parquet() -> bytes:
    return _parquet(pa.table({"x": list(range(50)), "y": [i % 2 for i in range(50)]}))


def _huge_parquet() -> bytes:
    """101 million rows x 2 columns of nulls: 1 MB on disk, over the 200 million cells limit."""
    n = 101_000_000
    return _parquet(pa.table({"a": pa.nulls(n), "b": pa.nulls(n)}), row_group_size=n)


def _bad_footer() -> bytes:
    data = bytearray(_good_parquet())
    data[-8:-4] = struct.pack("<I", 0x7FFFFFF0)  # footer length far past the file's start
    return bytes(data)


def _garbled_footer() -> bytes:
    data = bytearray(_good_parquet())
    n = struct.unpack("<I", data[-8:-4])[0]
    data[-8 - n:-8] = bytes((b * 7 + 13) % 256 for b in data[-8 - n:-8])
    return bytes(data)


def _csv_rows(n: int) -> bytes:
    return ("a,b\n" + "".join(f"{i},{i % 2}\n" for i in range(n))).encode()


def _mixed_encodings() -> bytes:
    return ("name,v\n" + "".join(f"row{i},{i}\n" for i in range(100_000))).encode() + \
        "São Paulo,1\n".encode("latin-1") + "Zürich,2\n".encode() + "Ωmega,3\n".encode("utf-16-le")


def _gzip() -> bytes:
    c = zlib.compressobj(wbits=31)
    return c.compress(_csv_rows(100)) + c.flush()


def _two_cell_sheet(dimension: str | None) -> bytes:
    """Issue 13 row 1: two cells, A1 and XFD1048576 (calamine's range: 17 billion cells, 512 GiB)."""
    return xlsx(sheet_xml(row(1, cell("A1", "x")) + row(1048576, cell("XFD1048576", 1)), dimension=dimension))


_SMALL: dict[str, tuple[Callable[[], bytes], Expect]] = {
    # Excel: declared shapes, bombs, damage
    "row1_a1_xfd1048576.xlsx": (lambda: _two_cell_sheet("A1:XFD1048576"), 413),
    "row1_a1_xfd1048576_no_dimension.xlsx": (lambda: _two_cell_sheet(None), REFUSED),
    "row1_a1_xfd1048576_lying_dimension.xlsx": (lambda: _two_cell_sheet("A1:B2"), REFUSED),
    "dimension_over_cells_limit.xlsx": (lambda: xlsx(sheet_xml(row(1, cell("A1", 1)), dimension="A1:ZZ999999")), 413),
    "lying_zip_sizes.xlsx": (lambda: _lying_sizes(xlsx(_valid_sheet())), REFUSED),
    "too_many_parts.xlsx": (_many_parts, 413),
    "billion_laughs.xlsx": (lambda: xlsx(_billion_laughs()), REFUSED),
    "malformed_xml.xlsx": (lambda: xlsx('<worksheet><sheetData><row r="1"><c r="A1"><v>1</v></row>'), REFUSED),
    "sheet_not_xml.xlsx": (lambda: xlsx(b"\x00\x01\x02" * 1000), REFUSED),
    "no_sheet.xlsx": (lambda: xlsx(None), REFUSED),
    "empty_sheet.xlsx": (lambda: xlsx(sheet_xml("")), 400),
    "header_only.xlsx": (lambda: xlsx(sheet_xml(row(1, cell("A1", "x"), cell("B1", "y")))), 400),
    "truncated_zip.xlsx": (lambda: xlsx(_valid_sheet())[:700], REFUSED),
    "zip_without_workbook.xlsx": (lambda: _zip({"hello.txt": "hi"}), REFUSED),
    "csv_named.xlsx": (lambda: _csv_rows(10), 400),
    "password.xlsx": (lambda: (DATA / "password.xlsx").read_bytes(), 400),
    "valid_formulas.xlsx": (lambda: xlsx(sheet_xml(row(1, cell("A1", "f"), cell("B1", "y")) + "".join(
        row(i, cell(f"A{i}", "=cmd|' /C calc'!A0"), cell(f"B{i}", i)) for i in range(2, 12)))), 201),
    "valid.xlsx": (lambda: xlsx(_valid_sheet()), 201),
    # legacy Excel
    "ole2_garbage.xls": (lambda: b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(range(256)) * 64, REFUSED),
    "truncated.xls": (lambda: (DATA / "small.xls").read_bytes()[:1500], REFUSED),
    "random_bytes.xls": (lambda: bytes((i * 131 + 7) % 256 for i in range(20_000)), REFUSED),
    "valid.xls": (lambda: (DATA / "small.xls").read_bytes(), 201),
    # Parquet
    "bad_footer_length.parquet": (_bad_footer, REFUSED),
    "garbled_footer.parquet": (_garbled_footer, REFUSED),
    "truncated.parquet": (lambda: _good_parquet()[: len(_good_parquet()) // 2], REFUSED),
    "magic_only.parquet": (lambda: b"PAR1PAR1", REFUSED),
    "huge_declared_rows.parquet": (_huge_parquet, 413),
    "nested_list.parquet": (lambda: _parquet(pa.table({"a": [[1, 2], [3]], "b": [1, 2]})), 400),
    "nested_struct.parquet": (lambda: _parquet(pa.table({"a": [{"x": 1}, {"x": 2}], "b": [1, 2]})), 400),
    "zero_rows.parquet": (lambda: _parquet(pa.table({"a": pa.array([], pa.int64()), "b": pa.array([], pa.int64())})),
                          400),
    "one_column.parquet": (lambda: _parquet(pa.table({"a": [1, 2, 3]})), 400),
    "csv_named.parquet": (lambda: _csv_rows(10), 400),
    "valid.parquet": (_good_parquet, 201),
    # CSV
    "empty.csv": (lambda: b"", 400),
    "bom_only.csv": (lambda: b"\xef\xbb\xbf", 400),
    "newlines_only.csv": (lambda: b"\r\n" * 10_000, 400),
    "header_only.csv": (lambda: b"a,b,c\n", 400),
    "nul_bytes.csv": (lambda: b"a,b\n1,\x002\n" * 100, 400),
    "binary_png.csv": (lambda: b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 10, 400),
    "binary_random.csv": (lambda: bytes((i * 197 + 3) % 256 for i in range(50_000)), 400),
    "gzip.csv": (_gzip, 400),
    "unterminated_quote.csv": (lambda: b'a,b\n1,"never closed\n2,3\n' + b"4,5\n" * 1000, (201, 400)),
    "ragged_rows.csv": (lambda: b"a,b\n1,2\n3,4,5,6\n7\n", 400),
    "duplicate_headers.csv": (lambda: b"a,a\n1,2\n", 400),
    "blank_header.csv": (lambda: b"a,,c\n1,2,3\n", 400),
    "single_column.csv": (lambda: b"a\n1\n2\n", 400),
    "header_50k_columns.csv": (lambda: (",".join(f"c{i}" for i in range(50_000)) + "\n").encode(), 400),
    "header_150k_columns_one_row.csv": (lambda: (",".join(f"c{i}" for i in range(150_000)) + "\n"
                                                 + ",".join("1" * 150_000) + "\n").encode(), REFUSED),
    "field_1mb.csv": (lambda: b"a,b\n" + b"x" * (1 << 20) + b",1\n2,3\n", (201, 400)),
    "mixed_encodings.csv": (_mixed_encodings, (201, 400)),
    "utf16.csv": (lambda: "a,b\nä,1\nö,2\n".encode("utf-16"), 201),
    "control_chars.csv": (lambda: b"a,b\n" + b"\x01\x02\x03\x04\x05\x06\x07\x08,1\n" * 200, 400),
    "quoted_newlines_everywhere.csv": (lambda: b'a,b\n"x\ny",1\n' * 5000, 201),
    "u202e_name_\u202egpj.csv": (lambda: _csv_rows(20), 201),
    "valid.csv": (lambda: _csv_rows(100), 201),
    "double.exe": (lambda: _csv_rows(10), 415),
}
_LARGE: dict[str, tuple[Callable[[Path], None], Expect]] = {
    "row5_whitespace_2gb.xlsx": (whitespace_bomb, 413),
    "row5_million_rows.xlsx": (million_rows, 413),
    "shared_strings_600mb.xlsx": (shared_strings_bomb, 413),
    "zip_bomb_1gb_part.xlsx": (deflate_bomb, 413),
}
BOMBS = ("row1_a1_xfd1048576_no_dimension.xlsx", "row5_whitespace_2gb.xlsx", "row5_million_rows.xlsx",
         "shared_strings_600mb.xlsx", "zip_bomb_1gb_part.xlsx", "huge_declared_rows.parquet",
         "single_line_80mb.csv")


def _zip(parts: dict[str, str]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, text in parts.items():
            zf.writestr(name, text)
    return buf.getvalue()


def _single_line(dest: Path) -> None:
    """The 2 GB single-line CSV, scaled to 80 MB: over the 64 MB line limit, not over the upload limit."""
    with open(dest, "wb") as f:
        f.write(b"a,b\n")
        for _ in range(80):
            f.write(b"x" * (1 << 20))


def names() -> list[str]:
    return [*_SMALL, *_LARGE, "single_line_80mb.csv"]


def build(folder: Path) -> dict[str, Expect]:
    """Write the corpus into `folder` (kept between calls: files already there are reused)."""
    folder.mkdir(parents=True, exist_ok=True)
    expected: dict[str, Expect] = {}
    for name, (make, status) in _SMALL.items():
        if not (folder / name).exists():
            (folder / name).write_bytes(make())
        expected[name] = status
    for name, (write, status) in {**_LARGE, "single_line_80mb.csv": (_single_line, 413)}.items():
        if not (folder / name).exists():
            write(folder / name)
        expected[name] = status
    return expected
