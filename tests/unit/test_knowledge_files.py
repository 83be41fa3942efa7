import pytest

from studio import knowledge


@pytest.mark.parametrize("name,expected", [("report.pdf", "report.pdf"),
                                           ("../../etc/passwd.txt", "passwd.txt"),
                                           ("年报 2024.docx", "年报_2024.docx")])
def test_uploads_keep_a_safe_name_inside_the_folder(name, expected):
    assert knowledge.safe_name(name) == expected


def test_unusable_names_are_refused():
    with pytest.raises(knowledge.KnowledgeError):
        knowledge.safe_name("../..")


def test_gbk_text_is_decoded(tmp_path):
    f = tmp_path / "gbk.txt"
    f.write_bytes("退货期限是十五天".encode("gbk"))
    assert knowledge.read_text_file(f) == "退货期限是十五天"


def test_unsupported_type_is_refused(settings, tmp_path):
    f = tmp_path / "x.exe"
    f.write_bytes(b"MZ")
    with pytest.raises(knowledge.KnowledgeError, match="unsupported"):
        knowledge.Knowledge(settings).add_file(f)
