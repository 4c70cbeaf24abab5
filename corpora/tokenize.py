"""The chapter's word tokenizer for reviews: HTML stripped, emoticons kept, lower-cased, split on non-word runs."""

from __future__ import annotations

import re

_HTML_TAG = re.compile(r"<[^>]*>")
_EMOTICON = re.compile(r"(?::|;|=)(?:-)?(?:\)|\(|D|P)")
_NON_WORD = re.compile(r"[\W]+")


def tokenize(text: str) -> list[str]:
    """Tokenize one review exactly as the book does, quirks included.

    Tags are removed without a space (`great<br />film` gives `greatfilm`); emoticons are looked
    for in the lower-cased text, so `:D` and `:P` never match; and they are appended with no space,
    so a review ending in a word glues it to the first emoticon. Keeping the quirks keeps the
    book's vocabulary.
    """
    lowered = _HTML_TAG.sub("", text).lower()
    emoticons = _EMOTICON.findall(lowered)
    return (_NON_WORD.sub(" ", lowered) + " ".join(emoticons).replace("-", "")).split()
