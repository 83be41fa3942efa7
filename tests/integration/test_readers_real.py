"""PDF and DOCX uploads go through LlamaIndex's readers (pypdf, docx2txt) into the store."""
import zipfile

import pytest

from studio.knowledge import Knowledge

pytestmark = pytest.mark.integration


def make_pdf(path, text):
    """A one-page PDF with one line of text, written by hand (no PDF writer is installed)."""
    stream = f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET".encode()
    objs = [b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
            b"/Resources << /Font << /F1 5 0 R >> >> >>",
            b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
            b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"]
    out, offsets = bytearray(b"%PDF-1.4\n"), []
    for i, body in enumerate(objs, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % i + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objs) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objs) + 1, xref)
    path.write_bytes(bytes(out))


def make_docx(path, text):
    """A minimal DOCX: the three parts Word needs for one paragraph."""
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("[Content_Types].xml",
                   '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
                   '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
                   '<Default Extension="xml" ContentType="application/xml"/>'
                   '<Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>')
        z.writestr("_rels/.rels",
                   '<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
                   '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="word/document.xml"/></Relationships>')
        z.writestr("word/document.xml",
                   '<?xml version="1.0"?><w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main">'
                   f'<w:body><w:p><w:r><w:t>{text}</w:t></w:r></w:p></w:body></w:document>')


def test_pdf_and_docx_are_read_chunked_and_found(settings, tmp_path):
    pdf, docx = tmp_path / "shipping.pdf", tmp_path / "invoices.docx"
    make_pdf(pdf, "Orders over 99 yuan ship for free to mainland China.")
    make_docx(docx, "Electronic invoices arrive by email within three working days. 电子发票三个工作日内发送。")
    kb = Knowledge(settings)
    try:
        assert kb.add_file(pdf) == ("shipping.pdf", 1)
        assert kb.add_file(docx) == ("invoices.docx", 1)
        top = kb.search("When do I get my invoice?")[0]
        assert top.file == "invoices.docx" and "three working days" in top.text
        top = kb.search("Is shipping free?")[0]
        assert top.file == "shipping.pdf" and top.page == "1" and "99 yuan" in top.text
    finally:
        kb.close()
