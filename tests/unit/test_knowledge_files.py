"""Readers, encodings, folders and zips for the knowledge base (no embedding model needed)."""
import json
import zipfile

import pytest

from studio import kbreaders, knowledge


@pytest.mark.parametrize("name,expected", [("report.pdf", "report.pdf"),
                                           ("../../etc/passwd.txt", "etc_passwd.txt"),
                                           ("年报 2024.docx", "年报_2024.docx")])
def test_uploads_keep_a_safe_name_inside_the_folder(name, expected):
    assert knowledge.safe_name(name) == expected


def test_unusable_names_are_refused():
    with pytest.raises(knowledge.KnowledgeError):
        knowledge.safe_name("../..")


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gbk", "gb18030"])
def test_chinese_text_is_decoded_in_either_encoding(encoding):
    text = "退货期限是十五天。保修两年。"
    assert kbreaders.decode(text.encode(encoding)) == text


def test_html_keeps_the_body_text_and_drops_scripts(tmp_path):
    f = tmp_path / "page.html"
    f.write_text("<html><head><title>t</title><style>p{color:red}</style></head><body><h1>Returns</h1>"
                 "<script>var secret = 1;</script><p>Within <b>15 days</b>.</p></body></html>")
    [doc] = kbreaders.read(f, "page.html")
    assert "Returns" in doc.text and "15 days" in doc.text
    assert "secret" not in doc.text and "color" not in doc.text


def test_csv_rows_keep_their_headers(tmp_path):
    f = tmp_path / "faq.csv"
    f.write_bytes("问题,答案\n保修多久,两年\n退货,15天内\n".encode("gbk"))
    [doc] = kbreaders.read(f, "faq.csv")
    assert doc.text == "问题: 保修多久; 答案: 两年\n\n问题: 退货; 答案: 15天内"


def test_json_and_jsonl_become_path_value_lines(tmp_path):
    f = tmp_path / "p.json"
    f.write_text(json.dumps([{"name": "K2", "specs": {"litres": 1.7}, "errors": ["E1", "E3"]}]))
    [doc] = kbreaders.read(f, "p.json")
    assert doc.text == "name: K2\nspecs.litres: 1.7\nerrors[0]: E1\nerrors[1]: E3"
    g = tmp_path / "p.jsonl"
    g.write_text('{"q": "a"}\n{"q": "b"}\n')
    assert kbreaders.read(g, "p.jsonl")[0].text == "q: a\n\nq: b"
    g.write_text('{"q": "a"\n')
    with pytest.raises(kbreaders.ReadError, match="not valid JSON"):
        kbreaders.read(g, "p.jsonl")


@pytest.mark.parametrize("name,content,reason", [("x.exe", b"MZ", "unsupported"),
                                                 ("broken.pdf", b"%PDF-1.4 nope", "could not be read"),
                                                 ("broken.docx", b"PK nope", "could not be read"),
                                                 ("empty.txt", b"   \n", "no text")])
def test_unreadable_files_say_why(tmp_path, name, content, reason):
    f = tmp_path / name
    f.write_bytes(content)
    with pytest.raises(kbreaders.ReadError, match=reason):
        kbreaders.read(f, name)


def test_folders_and_zips_expand_and_zip_members_stay_inside(tmp_path):
    folder = tmp_path / "manuals"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.txt").write_text("a")
    (folder / "sub" / "b.md").write_text("b")
    (folder / ".hidden").write_text("x")
    z = tmp_path / "docs.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("policies/returns.txt", "15 days")
        zf.writestr("../../escape.txt", "nope")
        zf.writestr("__MACOSX/._returns.txt", "junk")
    scratch = tmp_path / "scratch"
    items = kbreaders.expand([folder, z], scratch)
    names = [n for _, n in items]
    assert names == ["manuals/a.txt", "manuals/sub/b.md", "docs.zip/policies/returns.txt",
                     "docs.zip/../../escape.txt"]
    for path, _ in items[2:]:
        assert path.resolve().is_relative_to(scratch.resolve())  # '..' cannot climb out
    assert items[2][0].read_text() == "15 days"
    assert knowledge.safe_path(names[3]) == "docs.zip/escape.txt"  # '..' dropped: stored inside
    assert knowledge.safe_path(names[1]) == "manuals/sub/b.md"  # folders kept


def test_names_stay_apart_with_their_folders_and_repeats_are_renamed_with_a_note():
    assert knowledge.safe_path("a/b.txt") != knowledge.safe_path("a_b.txt")
    assert knowledge.safe_path("x/README.md") != knowledge.safe_path("y/README.md")
    with pytest.raises(knowledge.KnowledgeError):
        knowledge.safe_path("../..")
    out = kbreaders.distinct(["README.md", "README.md", "notes", "notes", "README.md"])
    assert [n for n, _ in out] == ["README.md", "README-2.md", "notes", "notes-2", "README-3.md"]
    assert out[0][1] is None and "stored as README-2.md" in out[1][1] and "zip" in out[1][1]


def test_zip_names_from_chinese_windows_are_read_as_gbk(tmp_path):
    z = tmp_path / "cn.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("abcdef.txt", "内容")  # an ASCII name of the same length, then...
    gbk = "说明书.txt".encode("gbk")
    assert len(gbk) == len(b"abcdef.txt")
    z.write_bytes(z.read_bytes().replace(b"abcdef.txt", gbk))  # ...GBK bytes, no UTF-8 flag
    [(path, name)] = kbreaders.expand([z], tmp_path / "s")
    assert name == "cn.zip/说明书.txt" and path.read_text() == "内容"
