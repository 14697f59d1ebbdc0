"""CheckDefinition: a stdlib dataclass with the validation and coercion of the pydantic model it replaced."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from typing import Any

import pytest

from doctor_core import CheckDefinition, ConfigSection, Severity, Status
from doctor_core import models as report_models
from tests.core.conftest import REPO


def _definition(**kwargs: Any) -> CheckDefinition:
    """A definition with these fields; Any, since the tests hand it wrongly typed values on purpose."""
    return CheckDefinition(**{"check_id": "check.example.dns", "name": "DNS", **kwargs})


def test_defaults_and_keyword_constructor() -> None:
    definition = _definition()
    assert definition == CheckDefinition(
        check_id="check.example.dns",
        name="DNS",
        description="",
        default_severity=Severity.FAIL,
        tags=(),
        estimated_duration_s=5.0,
        plugin="",
    )
    with pytest.raises(TypeError):
        CheckDefinition("check.example.dns", "DNS")  # type: ignore[call-arg]  # keywords only
    with pytest.raises(TypeError):
        CheckDefinition(check_id="check.example.dns", name="DNS", unknown=1)  # type: ignore[call-arg]


def test_the_report_models_module_re_exports_the_same_objects() -> None:
    assert report_models.CheckDefinition is CheckDefinition
    assert report_models.Severity is Severity and report_models.Status is Status
    assert Status.ERROR.rank > Status.FAIL.rank > Status.WARN.rank > Status.PASS.rank > Status.SKIP.rank


@pytest.mark.parametrize(
    "check_id", ["Check.Upper.Case", "nodots", "check..double", ".check.lead", "check.sp ace"]
)
def test_bad_check_id(check_id: str) -> None:
    with pytest.raises(ValueError, match=r"CheckDefinition\.check_id: check id .* must be dotted lower-case"):
        _definition(check_id=check_id)


def test_bad_tag_names_the_field_and_the_tag() -> None:
    with pytest.raises(ValueError, match=r"CheckDefinition\.tags of check\.example\.dns: tag 'Bad Tag'"):
        _definition(tags=("ok", "Bad Tag"))
    with pytest.raises(ValueError, match="tag 3"):
        _definition(tags=("ok", 3))
    with pytest.raises(TypeError, match=r"CheckDefinition\.tags .* not str"):
        _definition(tags="registry")  # a string is not a sequence of tags


@pytest.mark.parametrize("duration", [0, -1, 0.0, float("nan")])
def test_non_positive_duration(duration: float) -> None:
    with pytest.raises(ValueError, match=r"CheckDefinition\.estimated_duration_s .* greater than 0"):
        _definition(estimated_duration_s=duration)


@pytest.mark.parametrize("duration", ["5", None, True])
def test_duration_must_be_a_number(duration: object) -> None:
    with pytest.raises(TypeError, match=r"CheckDefinition\.estimated_duration_s .* number of seconds"):
        _definition(estimated_duration_s=duration)


def test_name_and_strings() -> None:
    with pytest.raises(ValueError, match=r"CheckDefinition\.name .* must not be empty"):
        _definition(name=" ")
    with pytest.raises(TypeError, match=r"CheckDefinition\.name must be a string"):
        _definition(name=None)
    with pytest.raises(TypeError, match=r"CheckDefinition\.check_id must be a string"):
        _definition(check_id=42)


def test_coercions_a_plugin_author_relies_on() -> None:
    definition = _definition(default_severity="warn", tags=["network", "dns"], estimated_duration_s=2)
    assert definition.default_severity is Severity.WARN
    assert definition.tags == ("network", "dns")
    assert isinstance(definition.estimated_duration_s, float) and definition.estimated_duration_s == 2.0
    with pytest.raises(ValueError, match=r"default_severity .* 'fatal' is not one of 'fail', 'warn', 'info'"):
        _definition(default_severity="fatal")


def test_frozen_hashable_and_replace_revalidates() -> None:
    definition = _definition(tags=("network",))
    with pytest.raises(dataclasses.FrozenInstanceError):
        definition.name = "other"  # type: ignore[misc]
    assert len({definition, _definition(tags=["network"])}) == 1
    owned = dataclasses.replace(definition, plugin="example_net")
    assert owned.plugin == "example_net" and owned.check_id == definition.check_id
    with pytest.raises(ValueError):
        dataclasses.replace(definition, check_id="Bad")


def test_to_dict_is_the_json_of_the_former_model() -> None:
    data = _definition(default_severity=Severity.INFO, tags=("a", "b"), estimated_duration_s=3).to_dict()
    assert data == {
        "check_id": "check.example.dns",
        "name": "DNS",
        "description": "",
        "default_severity": "info",
        "tags": ["a", "b"],
        "estimated_duration_s": 3.0,
        "plugin": "",
    }
    assert json.loads(json.dumps(data)) == data


def test_building_definitions_does_not_import_pydantic() -> None:
    code = (
        "import sys\n"
        "from doctor_core import Check, CheckDefinition, ConfigSection, Severity, Status, hookimpl\n"
        "Check(CheckDefinition(check_id='check.a.b', name='x', default_severity='warn'), run='m:f')\n"
        "ConfigSection('A', 'pkg.settings:Settings')\n"
        "assert 'pydantic' not in sys.modules, 'pydantic imported'\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=60)
    assert proc.returncode == 0, proc.stderr


def test_config_section_resolve_model() -> None:
    from tests.core.test_core_config import Settings

    assert ConfigSection("OCI", Settings).resolve_model() is Settings
    assert ConfigSection("OCI", "tests.core.test_core_config:Settings").resolve_model() is Settings
    with pytest.raises(ValueError, match=r"section 'OCI': model='tests\.core' is not 'module:ClassName'"):
        ConfigSection("OCI", "tests.core").resolve_model()
    with pytest.raises(ImportError, match=r"cannot import model 'tests\.core\.nope:Settings': Module"):
        ConfigSection("OCI", "tests.core.nope:Settings").resolve_model()
    with pytest.raises(ImportError, match="AttributeError"):
        ConfigSection("OCI", "tests.core.test_core_config:Nope").resolve_model()
    with pytest.raises(TypeError, match="is not a pydantic BaseModel subclass"):
        ConfigSection("OCI", "tests.core.test_core_config:SECTIONS").resolve_model()
    with pytest.raises(TypeError, match="is not a pydantic BaseModel subclass"):
        ConfigSection("OCI", dict).resolve_model()  # type: ignore[arg-type]
