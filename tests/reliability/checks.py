"""What every reliability test asserts."""
from __future__ import annotations

import pytest


def refuses(call, *words, error=Exception):
    """call() raises error with a message holding every word (the problem and the way out)."""
    with pytest.raises(error) as e:
        call()
    text = str(e.value)
    missing = [w for w in words if w.lower() not in text.lower()]
    assert not missing, f"message {text!r} lacks {missing}"
    return text
