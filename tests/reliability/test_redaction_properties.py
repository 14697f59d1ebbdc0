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

from doctor_core.redaction import forget_secrets, redact

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
