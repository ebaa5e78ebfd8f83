"""Properties of the sanitiser and encoder, for every value Hypothesis can think of."""

from __future__ import annotations

import re
import unicodedata

from hypothesis import given
from hypothesis import strategies as st

from pathbeacon.encoding import MAX_LENGTH, decode, encode, quote, sanitise, unquote

SEGMENT = re.compile(r"(?:[A-Za-z0-9._~-]|%[0-9A-F]{2})+")
# Every code point, surrogates and controls included, biased towards awkward ones.
awkward = st.sampled_from(
    list(" \t\n\r\x00\x1f\x7f\x85\xa0\u2028\u3000/?#&=+%.~-_<>\"'é\u0301\u0958\ud800\U0001f600")
)
# Format characters (category Cf): bidi overrides and isolates, zero-width ones, tags.
format_chars = st.one_of(
    st.characters(whitelist_categories=("Cf",)),
    st.sampled_from(list("\u202e\u202d\u2066\u2069\u200b\u200d\u200c\ufeff\u00ad\U000e0041")),
)
texts = st.text(alphabet=st.one_of(st.characters(), awkward, format_chars), max_size=150)
values = st.one_of(texts, st.none(), st.booleans(), st.integers(), st.floats())


@given(values)
def test_encoded_value_is_one_well_formed_segment(value: object) -> None:
    assert SEGMENT.fullmatch(encode(value))


@given(values)
def test_decoding_gives_back_the_sanitised_value(value: object) -> None:
    assert decode(encode(value)) == sanitise(value)
    assert unquote(encode(value)) == sanitise(value)


@given(values)
def test_sanitising_is_idempotent(value: object) -> None:
    once = sanitise(value)
    assert sanitise(once) == once


@given(values)
def test_sanitised_text_is_short_printable_nfc_and_not_a_dot_segment(value: object) -> None:
    text = sanitise(value)
    assert 0 < len(text) <= MAX_LENGTH
    assert text not in (".", "..")
    assert not any(ch.isspace() for ch in text)
    assert all(unicodedata.category(ch) not in ("Cc", "Cs", "Cf") for ch in text)
    assert unicodedata.is_normalized("NFC", text)


@given(texts)
def test_quote_agrees_with_the_standard_library(text: str) -> None:
    from urllib.parse import quote as stdlib_quote

    clean = sanitise(text)
    assert quote(clean) == stdlib_quote(clean, safe="")


def test_examples_from_the_field() -> None:
    assert sanitise("Mac OS X") == "Mac_OS_X"  # Sedona
    assert encode("Debian GNU/Linux") == "Debian_GNU%2FLinux"  # RisingWave
    assert sanitise("e\x00\u0301") == "\u00e9"
    assert sanitise("  a \t\n b  ") == "a_b"
    assert (sanitise(None), sanitise(True), sanitise(False)) == ("unknown", "true", "false")
    assert (sanitise(""), sanitise("   "), sanitise("\x00")) == ("unknown",) * 3
    assert (sanitise("."), sanitise("..")) == ("_", "__")
    assert sanitise("x" * 100) == "x" * 64
    assert encode("a+b&c=d?e#f%g") == "a%2Bb%26c%3Dd%3Fe%23f%25g"
    assert encode("é") == "%C3%A9"


@given(st.text(alphabet=st.one_of(format_chars, st.sampled_from("ab _.")), max_size=40))
def test_format_characters_never_survive(text: str) -> None:
    value = sanitise(text)
    assert all(unicodedata.category(ch) != "Cf" for ch in value)
    assert sanitise(value) == value and decode(encode(text)) == value


def test_format_characters_from_the_field_are_dropped() -> None:
    # A right-to-left override makes "evil\u202egnp.exe" display as "evilexe.png".
    assert sanitise("evil\u202egnp.exe") == "evilgnp.exe"
    assert sanitise("li\u200bnux") == "linux" and sanitise("\u2066x\u2069") == "x"
    assert sanitise("\ufeff\u200d") == "unknown"
    assert decode(encode("a\u202eb")) == "ab"


def test_unquote_leaves_malformed_escapes_alone() -> None:
    assert unquote("%") == "%" and unquote("a%2") == "a%2" and unquote("%zz") == "%zz"
    assert unquote("%2f%2F") == "//"
    assert unquote("%FF") == "\ufffd"  # not UTF-8: replaced, never an exception


class _Liar(str):
    """A str subclass whose methods all describe another, harmless string."""

    def __str__(self) -> str:
        return self

    def __len__(self) -> int:
        return 3

    def split(self, *args: object, **kwargs: object) -> list[str]:  # type: ignore[override]
        return ["abc"]

    def strip(self, *args: object) -> str:  # type: ignore[override]
        return ""

    def isprintable(self) -> bool:
        return True

    def isascii(self) -> bool:
        return True

    def translate(self, *args: object) -> str:  # type: ignore[override]
        return "abc"

    def encode(self, *args: object, **kwargs: object) -> bytes:  # type: ignore[override]
        return b"abc"


@given(texts)
def test_a_str_subclass_is_sanitised_as_the_plain_string_it_holds(text: str) -> None:
    liar = _Liar(text)
    assert sanitise(liar) == sanitise(text) and type(sanitise(liar)) is str
    assert encode(liar) == encode(text) and SEGMENT.fullmatch(encode(liar))
    if text.encode("utf-8", "surrogatepass").decode("utf-8", "ignore") == text:
        assert quote(liar) == quote(text)  # quote() takes text UTF-8 can carry (sanitised)


@given(st.text(alphabet=st.one_of(awkward, format_chars), min_size=1, max_size=20),
       st.integers(min_value=1, max_value=3))
def test_a_long_value_is_read_up_to_max_input_characters(unit: str, times: int) -> None:
    from pathbeacon.encoding import MAX_INPUT

    value = unit * (MAX_INPUT // len(unit) * times + 1)
    assert sanitise(value) == sanitise(value[:MAX_INPUT])
