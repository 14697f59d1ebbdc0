"""doctor_core.redaction: the one masking mechanism every output path goes through."""

from __future__ import annotations

import base64
import threading
from collections.abc import Iterator

import pytest

from doctor_core.redaction import MASK, forget_secrets, redact, redact_value, register_secret


@pytest.fixture(autouse=True)
def _clean_registry() -> Iterator[None]:
    forget_secrets()
    yield
    forget_secrets()


def test_a_registered_secret_and_its_base64_forms_are_masked() -> None:
    register_secret("hunter2-password", username="alice")
    basic = base64.b64encode(b"alice:hunter2-password").decode()
    alone = base64.b64encode(b"hunter2-password").decode().rstrip("=")
    text = f"pw=hunter2-password auth {basic} raw {alone} end"
    out = redact(text)
    assert "hunter2-password" not in out
    assert basic not in out
    assert alone not in out
    assert out.endswith(" end")


def test_secrets_registered_later_are_masked_from_then_on() -> None:
    assert redact("value tok-aaaa-1111 here") == "value tok-aaaa-1111 here"
    register_secret("tok-aaaa-1111")
    assert redact("value tok-aaaa-1111 here") == f"value {MASK} here"


def test_a_secret_inside_a_longer_one_leaves_nothing_of_either() -> None:
    register_secret("abcd-1234")
    register_secret("xx-abcd-1234-yy")
    out = redact("one xx-abcd-1234-yy two abcd-1234 three")
    assert out == f"one {MASK} two {MASK} three"


def test_short_values_are_not_registered_and_forget_clears() -> None:
    register_secret("ab")
    assert redact("ab ab") == "ab ab"
    register_secret("long-enough")
    forget_secrets()
    assert redact("long-enough") == "long-enough"


def test_secret_shapes_are_masked_without_registration() -> None:
    jwt = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhZG1pbiJ9.c2lnbmF0dXJl"
    out = redact(f"Authorization: Bearer abcdefghijk token={jwt} https://bob:pw123@registry.example")
    assert "abcdefghijk" not in out
    assert jwt not in out
    assert "pw123" not in out
    assert "registry.example" in out


def test_redact_value_keeps_structure_and_non_strings() -> None:
    register_secret("s3cr3t-value")
    value = {"a": ["x s3cr3t-value", 3, True, None], "b": ("s3cr3t-value",)}
    assert redact_value(value) == {"a": [f"x {MASK}", 3, True, None], "b": (MASK,)}


def test_registration_while_other_threads_redact_is_consistent() -> None:
    errors: list[BaseException] = []
    stop = threading.Event()

    def reader() -> None:
        try:
            while not stop.is_set():
                redact("token-0000 token-0001 token-0002")
        except BaseException as exc:  # pragma: no cover - the assertion below reports it
            errors.append(exc)

    threads = [threading.Thread(target=reader) for _ in range(3)]
    for thread in threads:
        thread.start()
    for i in range(200):
        register_secret(f"token-{i:04d}")
    stop.set()
    for thread in threads:
        thread.join()
    assert errors == []
    assert redact("token-0000 token-0199") == f"{MASK} {MASK}"


@pytest.mark.parametrize(
    "text",
    [
        "username 'tester' has no password: set OCI__Password or OCI__PasswordSecretRef",
        "username 'passwd': invalid credentials",
        "the token: expired; the secret: rotate it",
        "the registry uses Bearer authentication; Basic authentication is off",
        "auth: required",
    ],
)
def test_ordinary_words_next_to_secret_keys_stay_intact(text: str) -> None:
    """Issue #12 item 6: redaction masks values, not words."""
    assert redact(text) == text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("token=abc123&scope=x", f"token={MASK}&scope=x"),
        ("password = hunter2 next", f"password = {MASK} next"),
        ('{"password": "hunter2", "n": 1}', f'{{"password": "{MASK}", "n": 1}}'),
        ("{'identitytoken': 'tok-1'}", f"{{'identitytoken': '{MASK}'}}"),
        ("Basic dXNlcjpwYXNzd29yZA== end", f"Basic {MASK} end"),
        ("Bearer abc.def-1234567 end", f"Bearer {MASK} end"),
        ("Authorization: Bearer abcdefghijk", f"Authorization: Bearer {MASK}"),
    ],
)
def test_secret_values_in_their_shapes_are_masked(text: str, expected: str) -> None:
    assert redact(text) == expected
