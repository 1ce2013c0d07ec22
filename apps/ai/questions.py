"""Questions as trending groups them: the same question asked in different ways."""

import re
import unicodedata

KEY_LENGTH = 500
_NOT_WORD = re.compile(r"[^\w]+")
_FILLER = re.compile(r"^(please|pls|hey|hi|hello|so|ok|okay|um|uh)\s+")


def question_key(text: str) -> str:
    """Unicode-folded, lower case, punctuation and repeated spaces gone, a leading
    greeting or filler word dropped: "Hey, how do I RESET my password??" and
    "how do i reset my password" are one question."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    words = _NOT_WORD.sub(" ", folded).replace("_", " ").split()
    key = " ".join(words)
    while (shorter := _FILLER.sub("", key)) != key:
        key = shorter
    return key[:KEY_LENGTH]
