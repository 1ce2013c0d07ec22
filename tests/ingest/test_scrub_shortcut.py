"""Free text of letters and digits alone skips the secret patterns (apps.ingest.privacy):
the shortcut must redact exactly what the patterns would, whatever the text."""

import string

from hypothesis import given
from hypothesis import strategies as st

from apps.ingest.privacy import REDACTED, _scrub_patterns, scrub_text

ALNUM = string.ascii_letters + string.digits
UPPER_DIGITS = string.ascii_uppercase + string.digits

pieces = st.one_of(
    st.text(alphabet=ALNUM, max_size=12),
    st.sampled_from(["AKIA", "ASIA", "AIza", "password", "token", "Bearer", "eyJ", "sk", "ghp"]),
    # An AWS access key id, a temporary one, a Google API key: letters and digits alone.
    st.builds(str.__add__, st.sampled_from(["AKIA", "ASIA"]), st.text(UPPER_DIGITS, min_size=16)),
    st.builds(str.__add__, st.just("AIza"), st.text(ALNUM, min_size=35, max_size=40)),
)


@given(st.lists(pieces, max_size=6).map("".join))
def test_text_of_letters_and_digits_is_redacted_as_the_patterns_would(text):
    assert scrub_text(text) == _scrub_patterns(text)


def test_an_aws_key_id_alone_is_redacted():
    assert scrub_text("AKIAIOSFODNN7EXAMPLE") == REDACTED
    assert scrub_text("bench") == "bench"
