"""The documentation is executed: every code block of ``docs/*.md`` and ``README.md`` runs here.

Rules (a doc author needs to know these; they are also what keeps the docs honest):

**Which blocks run.** Fenced blocks tagged ``bash``, ``sh``, ``shell``, ``console`` and ``python``.
Other tags (``yaml``, ``toml``, ``json``, ``text``, untagged) are shown, not run -- unless a
``file`` marker writes them to disk for later blocks (below). Skipped *by rule*: a shell block
whose every command is a ``make`` target (README's ``make demo`` / ``make test``: they are the
harness that runs this very test).

**Markers**, an HTML comment on the line(s) right before the block's opening fence:

* ``<!-- docs-test: skip (reason) -->`` -- not run; the reason is mandatory (keep skips rare:
  publishing with twine is the one that needs it);
* ``<!-- docs-test: exit N -->`` -- the block (python, bash) or each command (console) must exit
  with N instead of 0;
* ``<!-- docs-test: file PATH -->`` -- the block's text is written to PATH (relative to the page's
  working directory) instead of being run: a ``doctor.yaml``, a plugin's ``pyproject.toml`` or
  module, which later blocks of the same page use.

**How they run.** Blocks of one page run in order, in one working directory per page (empty at
the start), each in a fresh process:

* ``bash``/``sh``/``shell``: the block is one script run by ``bash`` with ``set -eo pipefail``;
* ``console``: each ``$ COMMAND`` line is run by ``bash``; the lines after it (up to the next
  ``$``) are its expected output (stdout and stderr together): every non-blank expected line must
  appear, in order, in the actual output, with runs of spaces compared as one space and ``...``
  matching any text, spaces around it included (doctest's ELLIPSIS); digests and durations are
  written ``...`` in the docs;
* ``python``: the block is written to a file and run with the project's interpreter; the page's
  working directory and ``$DOCS_SITE`` are on ``PYTHONPATH``.

**Environment.** The reader of the docs has done the Quick Start exports, so every block starts
with them, pointing at a real local registry (:func:`conftest.docs_registry`: Debian's
docker-registry, htpasswd over TLS, user ``service-account``, ``stellaops/test:latest`` with a
signature, an SBOM and a cosign ``.sig`` tag; ``stellaops/signatures`` with cosign ``.sig`` and
``.att`` tags for the same image)::

    OCI__RegistryUrl=https://localhost:PORT   OCI__Username=service-account
    OCI__PasswordSecretRef=env:REGISTRY_PASSWORD   REGISTRY_PASSWORD=<the user's password>
    OCI__TestRepository=stellaops/test        OCI__CaBundle=<the registry's CA>   NO_COLOR=1

``PATH`` starts with the project's venv (``doctor``, ``stella``, ``python`` are its scripts),
``HOME`` is an empty directory (no docker config, no credential helper), stevedore's entry point
disk cache is disabled (a plugin installed and removed within seconds must show at once), proxy
variables and ``DOCTOR_*`` are unset.

**Substitutions**, applied to the code and to the expected output before running:

* ``https://registry.example.com`` -> the fixture registry's URL, ``registry.example.com`` -> its
  ``host:port`` (the docs use the placeholder registry of the seed documents);
* ``. .venv/bin/activate`` / ``source .venv/bin/activate`` -> a no-op (``PATH`` has the venv);
* ``pip`` is a shell function running ``tests/docs/docs_pip_shim.py``: ``pip install PATH``
  installs into ``$DOCS_SITE`` (a per-page directory on ``PYTHONPATH``), ``pip uninstall NAME``
  removes it from there -- the shared virtualenv is never modified.

Two more tests keep generated content in sync: ``docs/report.schema.json`` equals
``doctor_core.models.report_json_schema()``, and the matrix in ``docs/registry-compatibility.md``
equals ``docs_matrix_table.render_matrix()`` of ``doctor_oci.registries.MATRIX``.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from docs_matrix_table import PAGE as MATRIX_PAGE
from docs_matrix_table import page_region, render_matrix
from docs_support import DocsRegistry

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
PIP_SHIM = Path(__file__).resolve().with_name("docs_pip_shim.py")
PLACEHOLDER_HOST = "registry.example.com"
RUN_LANGUAGES = frozenset({"bash", "sh", "shell", "console", "python"})
SHELL_LANGUAGES = frozenset({"bash", "sh", "shell"})
BLOCK_TIMEOUT_S = 120

_FENCE = re.compile(r"^```\s*([A-Za-z0-9_+-]*)\s*$")
_MARKER = re.compile(r"^<!--\s*docs-test:\s*(.*?)\s*-->$")
_ACTIVATE = re.compile(r"^\s*(?:\.|source)\s+\S*\.venv/bin/activate\s*(?:#.*)?$")


def doc_pages() -> list[Path]:
    """Every page whose blocks are executed: ``docs/*.md`` and the top-level README."""
    return [*sorted(DOCS.glob("*.md")), ROOT / "README.md"]


@dataclass
class Block:
    """One fenced code block and what its markers say about it."""

    page: Path
    line: int
    language: str
    text: str
    skip: str | None = None
    exit_code: int = 0
    file: str | None = None
    markers: list[str] = field(default_factory=list)

    @property
    def where(self) -> str:
        shown = self.page.relative_to(ROOT) if self.page.is_relative_to(ROOT) else self.page
        return f"{shown}:{self.line}"


class MarkerError(ValueError):
    """A ``docs-test`` marker the test does not understand (a typo must not silently skip)."""


def _apply_marker(block: Block, marker: str) -> None:
    if match := re.fullmatch(r"skip\s*\((.+)\)", marker):
        block.skip = match.group(1).strip()
    elif match := re.fullmatch(r"exit\s+(\d+)", marker):
        block.exit_code = int(match.group(1))
    elif match := re.fullmatch(r"file\s+(\S+)", marker):
        block.file = match.group(1)
    else:
        raise MarkerError(
            f"{block.where}: unknown docs-test marker {marker!r} "
            "(use 'skip (reason)', 'exit N' or 'file PATH')"
        )


def parse_blocks(page: Path) -> list[Block]:
    """The fenced blocks of ``page`` with their markers (the comment lines just above the fence)."""
    lines = page.read_text(encoding="utf-8").splitlines()
    blocks: list[Block] = []
    index = 0
    while index < len(lines):
        match = _FENCE.match(lines[index])
        if match is None:
            index += 1
            continue
        start = index
        end = start + 1
        while end < len(lines) and lines[end].strip() != "```":
            end += 1
        if end >= len(lines):
            raise ValueError(f"{page}:{start + 1}: code block is never closed")
        block = Block(page, start + 1, match.group(1).lower(), "\n".join(lines[start + 1 : end]) + "\n")
        above = start - 1
        markers: list[str] = []
        while above >= 0 and (found := _MARKER.match(lines[above].strip())):
            markers.insert(0, found.group(1))
            above -= 1
        for marker in markers:
            _apply_marker(block, marker)
        block.markers = markers
        blocks.append(block)
        index = end + 1
    return blocks


def _commands(block: Block) -> list[str]:
    """Shell command lines (console: the ``$`` lines; shell: non-comment lines)."""
    if block.language == "console":
        return [line[2:] for line in block.text.splitlines() if line.startswith("$ ")]
    return [
        line.strip() for line in block.text.splitlines() if line.strip() and not line.strip().startswith("#")
    ]


def skipped_by_rule(block: Block) -> str | None:
    """Why a block is not run although nothing marks it (``None``: it runs)."""
    if block.file is not None:
        return None
    if block.language not in RUN_LANGUAGES:
        return f"language {block.language or 'none'!r} is shown, not run"
    if block.language != "python":
        commands = _commands(block)
        if commands and all(command.split()[0] == "make" for command in commands):
            return "make targets are the harness itself"
    return None


def substitute(text: str, registry: DocsRegistry) -> str:
    """The placeholder registry replaced by the fixture's (URL first, then the bare host)."""
    return text.replace(f"https://{PLACEHOLDER_HOST}", registry.url).replace(PLACEHOLDER_HOST, registry.host)


def _shell_script(text: str) -> str:
    body = "\n".join(":" if _ACTIVATE.match(line) else line for line in text.splitlines())
    preamble = f'set -eo pipefail\npip() {{ "{sys.executable}" "{PIP_SHIM}" "$@"; }}\n'
    return preamble + body + "\n"


def _normalize(line: str) -> str:
    return " ".join(line.split())


def _line_matches(expected: str, actual: str) -> bool:
    pattern = ".*".join(re.escape(part.strip()) for part in _normalize(expected).split("..."))
    return re.fullmatch(pattern, _normalize(actual)) is not None


def missing_output(expected: list[str], actual: str) -> str | None:
    """The first expected line not found (in order) in ``actual``, or ``None`` when all are."""
    lines = actual.splitlines()
    position = 0
    for wanted in (line for line in expected if line.strip()):
        while position < len(lines) and not _line_matches(wanted, lines[position]):
            position += 1
        if position >= len(lines):
            return wanted
        position += 1
    return None


@dataclass
class PageRun:
    """Per-page state: the working directory and the environment every block starts with."""

    workdir: Path
    scratch: Path
    env: dict[str, str]
    registry: DocsRegistry


def _run(args: list[str], run: PageRun, block: Block) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(
            args,
            cwd=run.workdir,
            env=run.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=BLOCK_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"{block.where}: did not finish within {BLOCK_TIMEOUT_S} s", pytrace=False)


def _expect_exit(block: Block, what: str, result: subprocess.CompletedProcess[str]) -> None:
    if result.returncode != block.exit_code:
        pytest.fail(
            f"{block.where}: {what} exited {result.returncode}, the docs expect {block.exit_code}\n"
            f"--- output ---\n{result.stdout}",
            pytrace=False,
        )


def run_block(block: Block, run: PageRun, number: int) -> None:
    """Execute (or write) one block; fail the test with the block's location when it misbehaves."""
    text = substitute(block.text, run.registry)
    if block.file is not None:
        target = run.workdir / block.file
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
        return
    if block.language == "python":
        script = run.scratch / f"block_{number}_line_{block.line}.py"
        script.write_text(text, encoding="utf-8")
        _expect_exit(block, "the Python block", _run([sys.executable, str(script)], run, block))
        return
    if block.language in SHELL_LANGUAGES:
        result = _run(["bash", "-c", _shell_script(text)], run, block)
        _expect_exit(block, "the shell block", result)
        return
    current: str | None = None
    expected: list[str] = []
    steps: list[tuple[str, list[str]]] = []
    for line in text.splitlines():
        if line.startswith("$ "):
            if current is not None:
                steps.append((current, expected))
            current, expected = line[2:], []
        elif current is not None:
            expected.append(line)
    if current is not None:
        steps.append((current, expected))
    for command, wanted in steps:
        result = _run(["bash", "-c", _shell_script(command)], run, block)
        _expect_exit(block, f"'$ {command}'", result)
        missing = missing_output(wanted, result.stdout)
        if missing is not None:
            pytest.fail(
                f"{block.where}: '$ {command}' did not print the documented line\n  {missing!r}\n"
                f"--- actual output ---\n{result.stdout}",
                pytrace=False,
            )


def _environment(registry: DocsRegistry, home: Path, site: Path, workdir: Path) -> dict[str, str]:
    keep = {key: os.environ[key] for key in ("LANG", "LC_ALL", "TZ", "SYSTEMROOT") if key in os.environ}
    venv_bin = str(Path(sys.executable).parent)
    return {
        **keep,
        "PATH": f"{venv_bin}:/usr/local/bin:/usr/bin:/bin",
        "HOME": str(home),
        "XDG_CACHE_HOME": str(home / ".cache"),
        "PYTHONPATH": f"{workdir}:{site}",
        "PYTHONDONTWRITEBYTECODE": "1",
        "DOCS_SITE": str(site),
        "NO_COLOR": "1",
        "OCI__RegistryUrl": registry.url,
        "OCI__Username": "service-account",
        "OCI__PasswordSecretRef": "env:REGISTRY_PASSWORD",
        "REGISTRY_PASSWORD": registry.password,
        "OCI__TestRepository": "stellaops/test",
        "OCI__CaBundle": str(registry.ca_bundle),
    }


@pytest.mark.parametrize("page", doc_pages(), ids=lambda page: str(page.relative_to(ROOT)))
def test_page_code_blocks_run(page: Path, docs_registry: DocsRegistry, tmp_path: Path) -> None:
    """Every runnable block of the page runs, in order, with the documented exit code and output."""
    blocks = parse_blocks(page)
    home, site, workdir, scratch = (tmp_path / name for name in ("home", "site", "work", "scratch"))
    for directory in (home, site, workdir, scratch):
        directory.mkdir()
    disable = home / ".cache" / "python-entrypoints"
    disable.mkdir(parents=True)
    (disable / ".disable").touch()
    run = PageRun(workdir, scratch, _environment(docs_registry, home, site, workdir), docs_registry)
    for number, block in enumerate(blocks, 1):
        if block.skip is not None or skipped_by_rule(block) is not None:
            continue
        run_block(block, run, number)


def test_every_page_is_parseable_and_every_skip_is_justified() -> None:
    """Markers are well-formed (parse_blocks raises otherwise) and skips stay rare."""
    skipped = [block for page in doc_pages() for block in parse_blocks(page) if block.skip is not None]
    for block in skipped:
        assert len(block.skip or "") >= 10, f"{block.where}: a skip needs a real reason, got {block.skip!r}"
    assert len(skipped) <= 3, f"too many skipped blocks: {[b.where for b in skipped]}"


def test_docs_index_links_every_page() -> None:
    """docs/README.md is the index: it links every page of docs/ (and only existing ones)."""
    index = (DOCS / "README.md").read_text(encoding="utf-8")
    linked = set(re.findall(r"\]\(([^)#]+\.md)\)", index))
    pages = {page.name for page in DOCS.glob("*.md") if page.name != "README.md"}
    assert pages <= linked, f"docs/README.md does not link {sorted(pages - linked)}"
    broken = sorted(link for link in linked if not (DOCS / link).exists())
    assert not broken, f"broken links in docs/README.md: {broken}"


def test_report_schema_file_is_the_generated_schema() -> None:
    """docs/report.schema.json equals doctor_core.models.report_json_schema() (regenerate with
    ``doctor schema > docs/report.schema.json``)."""
    from doctor_core.models import report_json_schema

    committed = json.loads((DOCS / "report.schema.json").read_text(encoding="utf-8"))
    assert committed == report_json_schema(), (
        "docs/report.schema.json is stale: run 'doctor schema > docs/report.schema.json'"
    )


def test_compatibility_page_matches_matrix() -> None:
    """The matrix in docs/registry-compatibility.md is rendered from doctor_oci.registries.MATRIX."""
    from doctor_oci.registries import MATRIX

    region = page_region(MATRIX_PAGE.read_text(encoding="utf-8"))
    assert region == render_matrix(MATRIX), (
        "docs/registry-compatibility.md is out of date with doctor_oci.registries.MATRIX: "
        "run '.venv/bin/python tests/docs/docs_matrix_table.py'"
    )
    for profile in MATRIX:
        assert f"`{profile.key}`" in region and profile.reconciliation in region


def test_output_matcher_rejects_what_it_should() -> None:
    """The console matcher is strict enough to catch drift (order, missing text, wrong words)."""
    actual = "Registry Checks Summary\ncheck.a   PASS  ok (sha256:abc...)\nOverall: 1 passed\n"
    assert missing_output(["check.a PASS ok (sha256:...)", "Overall: 1 passed"], actual) is None
    assert missing_output(["Overall: 1 passed", "check.a PASS ..."], actual) == "check.a PASS ..."
    assert missing_output(["check.a FAIL ..."], actual) == "check.a FAIL ..."
    assert missing_output(["check.a"], actual) == "check.a"  # a whole line, not a fragment


def test_marker_typo_is_an_error(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text("<!-- docs-test: skipp (typo) -->\n```bash\ndoctor list\n```\n", encoding="utf-8")
    with pytest.raises(MarkerError, match="unknown docs-test marker"):
        parse_blocks(page)
