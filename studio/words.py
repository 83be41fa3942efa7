"""A message in both of the UI's languages. Services write English and Chinese side by side; the
page picks the one its browser asks for (tabs.i18n.said), and logs and tests read the English."""
from __future__ import annotations


class Said(str):
    """English as the string itself; the Chinese in .zh."""

    zh: str

    def __new__(cls, en: str, zh: str):
        self = super().__new__(cls, en)
        self.zh = zh
        return self

    def __getnewargs__(self):  # pickle and copy rebuild it with both languages
        return str(self), self.zh


def pick(x, zh: bool):
    """The text of a message or an exception, in Chinese when asked and written. A list (problems,
    warnings) comes back as a list, each item picked; anything else as its str()."""
    if isinstance(x, list):
        return [pick(v, zh) for v in x]
    if isinstance(x, BaseException):
        # str(e) is the English alone: the Said is the exception's one argument.
        x = x.args[0] if len(x.args) == 1 and isinstance(x.args[0], Said) else str(x)
    if zh and isinstance(x, Said):
        return x.zh
    return str(x)


def zh(x) -> str:
    """The Chinese of a message for building a longer one; a name, a number or a library's own
    words (no Said) stay as they are."""
    return pick(x, True)


def join(sep: str, parts, zh_sep: str | None = None) -> Said:
    """Messages joined in both languages (Chinese punctuation by zh_sep, if given)."""
    parts = list(parts)
    return Said(sep.join(map(str, parts)), (sep if zh_sep is None else zh_sep).join(map(zh, parts)))
