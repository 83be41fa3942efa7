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


def pick(x, zh: bool) -> str:
    """The text of a message or an exception, in Chinese when asked and written."""
    if isinstance(x, BaseException):
        x = x.args[0] if len(x.args) == 1 else str(x)
    if zh and isinstance(x, Said):
        return x.zh
    return str(x)
