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


_WORD = re.compile(r"\w+")


def tokenize_with_spans(text: str) -> list[tuple[str, tuple[int, int] | None]]:
    """`tokenize(text)` with where each token sits in `text`: (token, (start, end)) or (token, None).

    Word tokens get the span of the characters they came from (a token glued across a removed tag,
    like `greatfilm` from `great<br />film`, spans the tag too); emoticons get their own span. A
    word glued to the first emoticon (the book's quirk) has no single span, so None.
    """
    tokens = tokenize(text)
    # The tag-free text, and for each of its characters the position in `text` it came from.
    kept: list[str] = []
    origin: list[int] = []
    position = 0
    for match in _HTML_TAG.finditer(text):
        kept.append(text[position : match.start()])
        origin.extend(range(position, match.start()))
        position = match.end()
    kept.append(text[position:])
    origin.extend(range(position, len(text)))
    cleaned = "".join(kept)
    lowered = cleaned.lower()
    if len(lowered) != len(cleaned):  # a character whose lower case is longer (İ → i̇): map each piece back
        origin = [origin[index] for index, char in enumerate(cleaned) for _ in char.lower()]
        if len(origin) != len(lowered):
            return [(token, None) for token in tokens]

    def span(start: int, end: int) -> tuple[int, int]:
        return origin[start], origin[end - 1] + 1

    words = [(match.group(), span(*match.span())) for match in _WORD.finditer(lowered)]
    emoticons = [(match.group().replace("-", ""), span(*match.span())) for match in _EMOTICON.finditer(lowered)]
    found: list[tuple[str, tuple[int, int] | None]] = [*words, *emoticons]
    if words and emoticons and _WORD.fullmatch(lowered[-1:] or " "):  # the last word is glued to the first emoticon
        found = [*words[:-1], (words[-1][0] + emoticons[0][0], None), *emoticons[1:]]
    if [token for token, _ in found] != tokens:  # pragma: no cover - a case the alignment above does not know
        return [(token, None) for token in tokens]
    return found
