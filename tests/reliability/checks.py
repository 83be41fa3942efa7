"""What every reliability test asserts."""
from __future__ import annotations

import re

import pytest

from studio.words import Said

CJK = re.compile(r"[\u4e00-\u9fff]")


def refuses(call, *words, error=Exception):
    """call() raises error with a message holding every word (the problem and the way out), and
    carrying its Chinese for a page in Chinese."""
    with pytest.raises(error) as e:
        call()
    text = str(e.value)
    missing = [w for w in words if w.lower() not in text.lower()]
    assert not missing, f"message {text!r} lacks {missing}"
    assert in_chinese(e.value.args[0] if e.value.args else None), f"message {text!r} has no Chinese"
    return text


def in_chinese(message) -> bool:
    """A message a Chinese page can show in Chinese (studio.words.Said)."""
    return isinstance(message, Said) and bool(CJK.search(message.zh))
