"""Redaction is the identity on text that holds no secret (issue #12 item 6: masks values, not words).

Hypothesis builds prose from ordinary words *and* the words the secret shapes key on (password,
passwd, token, secret, auth, Basic, Bearer), with the punctuation prose puts next to them (``:``,
quotes, commas, parentheses) -- everything except the shapes that carry a value: ``key=value``,
a quoted key with a quoted value, ``Authorization:`` followed by a scheme, URL userinfo and JWTs.
No secret is registered. The output must equal the input.
"""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from doctor_core import redaction
from doctor_core.redaction import forget_secrets, redact, register_secret

WORDS = (
    "username",
    "tester",
    "has",
    "no",
    "set",
    "the",
    "registry",
    "invalid",
    "rejected",
    "credentials",
    "OCI__Password",
    "OCI__PasswordSecretRef",
    "OCI.Token",
    "demo/app:v1",
    "401",
    "pull",
    "push",
    "password",
    "Password",
    "passwd",
    "token",
    "Token",
    "secret",
    "auth",
    "api_key",
    "Basic",
    "Bearer",
    "basic",
    "bearer",
    "authentication",
    "realm",
    "service",
    "expired",
    "required",
    "configured",
)
AFFIXES = ("{}", "{}:", "'{}'", "'{}':", '"{}"', "{},", "({})", "{};", "{}.")
TOKENS = st.builds(lambda word, affix: affix.format(word), st.sampled_from(WORDS), st.sampled_from(AFFIXES))
#: A quoted secret key, a colon, then a quoted value: the JSON/repr shape that carries a secret.
VALUE_SHAPE = re.compile(r"""(["'])(?:password|passwd|token|secret|auth|api_key)\1:\s*["']""", re.IGNORECASE)
PROSE = st.lists(TOKENS, min_size=1, max_size=25).map(" ".join).filter(lambda t: not VALUE_SHAPE.search(t))


@settings(max_examples=400, deadline=None)
@given(PROSE)
def test_redacting_text_without_a_secret_is_the_identity(text: str) -> None:
    forget_secrets()
    assert redact(text) == text


# ------------------------------------------- the fast paths of redact() change nothing it returns
def _every_pattern_everywhere(text: str) -> str:
    """redact() without its shortcuts: every registered secret, then every shape, unconditionally."""
    ordered, _ = redaction._ordered
    for secret in ordered:
        text = text.replace(secret, redaction.MASK)
    for shape, replacement, _literals in redaction._SHAPES:
        text = shape.sub(replacement, text)
    return text


SECRET = "s3cr3t-Pa55word-xyz"
FRAGMENTS = (
    *WORDS,
    SECRET,
    "Authorization: Bearer abc123def456",
    "authorization=basic dXNlcjpwYXNz",
    "AUTHOR\u0130ZATION: Bearer abc123def456",  # dotted capital I: only case-insensitive matching sees it
    "author\u0131zation: bearer abc123def456",  # dotless i
    "Basic dXNlcjpwYXNz",
    "BEARER abcdefgh12",
    "password=hunter22",
    "pa\u017f\u017fword=hunter22",  # long s: matches "s" case-insensitively
    '"token": "abc"',
    "'secret': 'x y'",
    "https://user:pa55@registry.example.com/v2/",
    "eyJhbGciOi.eyJzdWIiOi.c2lnbmF0dXJl",
    "=",
    ":",
    "@",
    "://",
    "\u0131",
    "é",
)
MIXED = st.lists(st.sampled_from(FRAGMENTS), min_size=1, max_size=12).flatmap(
    lambda parts: st.sampled_from(("", " ", ", ", "\n")).map(lambda sep: sep.join(parts))
)


@settings(max_examples=600, deadline=None)
@given(MIXED)
def test_redact_equals_every_pattern_applied_everywhere(text: str) -> None:
    """The length bound on secrets and the literal pre-checks on shapes are exact, not heuristics."""
    forget_secrets()
    register_secret(SECRET, username="robot")
    register_secret("eyJhbGciOiJIUzI1NiJ9." + "a" * 300 + ".sig")  # a token longer than most text
    try:
        assert redact(text) == _every_pattern_everywhere(text)
    finally:
        forget_secrets()
