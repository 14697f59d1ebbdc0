"""Plugin discovery through real entry points, and every way a plugin can misbehave."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from typing import Any, TypedDict, Unpack

import pytest

from doctor_core import (
    Check,
    CheckDefinition,
    Command,
    ConfigSection,
    PluginError,
    PluginProblem,
    Reporter,
    hookimpl,
)
from doctor_core.api import Doctor
from doctor_core.plugins import PluginManager
from tests.core.conftest import PluginSite


def _doctor(site: PluginSite, **kwargs: Any) -> Doctor:
    return Doctor({}, environ={}, disable_plugins=site.foreign_plugins(), **kwargs)


def _problems(doctor: Doctor, plugin: str) -> list[PluginProblem]:
    return [p for p in doctor.plugin_problems if p.plugin == plugin]


def test_discovers_checks_through_entry_points_without_importing_check_modules(
    plugin_site: PluginSite,
) -> None:
    plugin_site.add_distribution("dtp-good", {"dtp_good": "dtp_good"}, ["dtp_good", "dtp_good_checks"])
    doctor = _doctor(plugin_site)

    ids = [d.check_id for d in doctor.checks()]
    assert ids == ["check.dtp.good.hello", "check.dtp.good.shared"]
    assert {d.plugin for d in doctor.checks()} == {"dtp_good"}
    assert "dtp_good_checks" not in sys.modules  # listing never imports check bodies
    info = {i.name: i for i in doctor.plugins()}["dtp_good"]
    assert (info.distribution, info.version, info.source) == ("dtp-good", "0.1.0", "entry point")
    assert doctor.plugin_problems == ()

    report = doctor.run(tags=["greeting"])
    assert report.result("check.dtp.good.hello").message == "hello"
    assert "dtp_good_checks" in sys.modules


def test_import_failure_is_reported_with_its_distribution_and_others_keep_working(
    plugin_site: PluginSite,
) -> None:
    plugin_site.add_distribution("dtp-good", {"dtp_good": "dtp_good"}, ["dtp_good", "dtp_good_checks"])
    plugin_site.add_distribution("dtp-broken", {"dtp_broken": "dtp_broken_import"}, ["dtp_broken_import"])
    plugin_site.add_distribution("dtp-assert", {"dtp_assert": "dtp_assertion"}, ["dtp_assertion"])
    doctor = _doctor(plugin_site)

    [broken] = _problems(doctor, "dtp_broken")
    assert broken.stage == "load"
    assert broken.distribution == "dtp-broken"
    assert "ImportError" in broken.error and "not installed" in broken.error
    [asserting] = _problems(doctor, "dtp_assert")
    assert asserting.stage == "load" and "AssertionError" in asserting.error
    assert [d.check_id for d in doctor.checks()] == ["check.dtp.good.hello", "check.dtp.good.shared"]


def test_register_failure_is_isolated(plugin_site: PluginSite) -> None:
    plugin_site.add_distribution("dtp-badreg", {"dtp_badreg": "dtp_bad_register"}, ["dtp_bad_register"])
    plugin_site.add_distribution("dtp-good", {"dtp_good": "dtp_good"}, ["dtp_good", "dtp_good_checks"])
    doctor = _doctor(plugin_site)

    [problem] = _problems(doctor, "dtp_badreg")
    assert problem.stage == "register"
    assert problem.distribution == "dtp-badreg"
    assert "nonexistent_argument" in problem.error
    assert "dtp_badreg" not in {i.name for i in doctor.plugins()}
    assert len(doctor.checks()) == 2


def test_duplicate_check_id_keeps_the_first_and_names_both_distributions(plugin_site: PluginSite) -> None:
    plugin_site.add_distribution("dtp-good", {"dtp_good": "dtp_good"}, ["dtp_good", "dtp_good_checks"])
    plugin_site.add_distribution("dtp-dup", {"dtp_dup": "dtp_duplicate"}, ["dtp_duplicate"])
    doctor = _doctor(plugin_site)

    checks = {d.check_id: d for d in doctor.checks()}
    assert checks["check.dtp.good.hello"].plugin == "dtp_good"
    assert checks["check.dtp.duplicate.own"].plugin == "dtp_dup"
    [problem] = _problems(doctor, "dtp_dup")
    assert problem.stage == "duplicate-check"
    assert "dtp-good" in problem.error and "dtp-dup" in problem.error


def test_raising_hooks_are_attributed_redacted_and_do_not_break_the_run(plugin_site: PluginSite) -> None:
    plugin_site.add_distribution("dtp-good", {"dtp_good": "dtp_good"}, ["dtp_good", "dtp_good_checks"])
    plugin_site.add_distribution("dtp-raise", {"dtp_raise": "dtp_hook_raises"}, ["dtp_hook_raises"])
    doctor = _doctor(plugin_site)

    report = doctor.run()
    assert report.summary.total == 2
    stages = sorted(p.stage for p in _problems(doctor, "dtp_raise"))
    assert stages == ["hook:doctor_add_checks", "hook:doctor_check_finished", "hook:doctor_check_finished"]
    add_checks = next(p for p in _problems(doctor, "dtp_raise") if p.stage == "hook:doctor_add_checks")
    assert "hunter2" not in add_checks.error and "RuntimeError" in add_checks.error
    assert any(p.plugin == "dtp_raise" for p in report.plugin_errors)


def test_malformed_contributions_are_problems(plugin_site: PluginSite) -> None:
    plugin_site.add_distribution("dtp-bad", {"dtp_bad": "dtp_malformed"}, ["dtp_malformed"])
    doctor = _doctor(plugin_site)

    assert doctor.checks() == []
    assert "text" in doctor.reporters
    errors = sorted(p.error for p in _problems(doctor, "dtp_bad"))
    assert all(p.stage == "invalid-contribution" for p in _problems(doctor, "dtp_bad"))
    assert any("gave a str, expected doctor_core.Check" in e for e in errors)
    assert any("returned int" in e for e in errors)


def test_strict_mode_turns_problems_into_an_error(plugin_site: PluginSite) -> None:
    plugin_site.add_distribution("dtp-broken", {"dtp_broken": "dtp_broken_import"}, ["dtp_broken_import"])
    with pytest.raises(PluginError, match="dtp_broken") as caught:
        _doctor(plugin_site, strict_plugins=True)
    assert caught.value.exit_code == 2
    with pytest.raises(PluginError):
        Doctor({}, environ={"DOCTOR_STRICT_PLUGINS": "1"}, disable_plugins=plugin_site.foreign_plugins())


def test_disable_plugin_blocks_the_import(plugin_site: PluginSite) -> None:
    plugin_site.add_distribution("dtp-good", {"dtp_good": "dtp_good"}, ["dtp_good", "dtp_good_checks"])
    plugin_site.add_distribution("dtp-broken", {"dtp_broken": "dtp_broken_import"}, ["dtp_broken_import"])
    doctor = Doctor(
        {},
        environ={"DOCTOR_DISABLE_PLUGINS": "dtp_good, dtp_broken"},
        disable_plugins=plugin_site.foreign_plugins(),
        strict_plugins=True,
    )
    assert doctor.checks() == []
    assert "dtp_good" not in sys.modules and "dtp_broken_import" not in sys.modules


def test_no_entrypoints_switch_and_in_process_plugins(plugin_site: PluginSite) -> None:
    plugin_site.add_distribution("dtp-broken", {"dtp_broken": "dtp_broken_import"}, ["dtp_broken_import"])

    class Inline:
        @hookimpl
        def doctor_add_checks(self) -> Iterable[Check]:
            return [Check(CheckDefinition(check_id="check.inline.one", name="One"), run="x:y")]

    manager = PluginManager(plugins=[Inline()], load_entrypoints=False)
    assert manager.problems == ()
    assert list(manager.checks()) == ["check.inline.one"]
    assert manager.checks()["check.inline.one"].definition.plugin == "Inline"
    assert {"text", "json", "junit", "markdown"} <= set(manager.reporters())


def test_duplicate_reporters_and_commands_are_dropped_and_reported() -> None:
    class Clash:
        @hookimpl
        def doctor_add_reporters(self) -> Iterable[Reporter]:
            return [Reporter("json", "impostor", lambda report, options: "")]

        @hookimpl
        def doctor_add_commands(self) -> Iterable[Command]:
            return [
                Command("list", "x", lambda parser: None, lambda args, app: 0),
                Command("mine", "y", lambda parser: None, lambda args, app: 0),
            ]

    manager = PluginManager(plugins=[Clash()], load_entrypoints=False)
    assert manager.reporters()["json"].description != "impostor"
    assert list(manager.commands()) == ["mine"]
    assert sorted(p.stage for p in manager.problems) == ["duplicate-command", "duplicate-reporter"]


class _Marks(TypedDict, total=False):
    """The hookimpl options the ordering tests pass."""

    tryfirst: bool
    trylast: bool
    wrapper: bool
    hookwrapper: bool


def _inline(name: str, check_id: str, **marks: Unpack[_Marks]) -> object:
    def doctor_add_checks(self: object) -> Iterable[Check]:
        return [Check(CheckDefinition(check_id=check_id, name=check_id), run="x:y")]

    return type(name, (), {"doctor_add_checks": hookimpl(**marks)(doctor_add_checks)})()


def test_tryfirst_and_trylast_order_contributions_and_registration_order_holds_otherwise() -> None:
    plugins = [
        _inline("Late", "check.late", trylast=True),
        _inline("Plain1", "check.plain1"),
        _inline("Early", "check.early", tryfirst=True),
        _inline("Plain2", "check.plain2"),
    ]
    manager = PluginManager(plugins=plugins, load_entrypoints=False)
    assert manager.problems == ()
    assert list(manager.checks()) == ["check.early", "check.plain1", "check.plain2", "check.late"]


@pytest.mark.parametrize("marks", [{"wrapper": True}, {"hookwrapper": True}])
def test_wrapper_implementations_are_refused_with_a_clear_problem_and_others_still_count(
    marks: _Marks,
) -> None:
    class Wrapping:
        @hookimpl(**marks)
        def doctor_add_checks(self) -> Iterator[None]:
            yield

    manager = PluginManager(plugins=[Wrapping(), _inline("Plain", "check.plain")], load_entrypoints=False)
    assert list(manager.checks()) == ["check.plain"]
    [problem] = manager.problems
    assert problem.plugin == "Wrapping" and problem.stage == "hook:doctor_add_checks"
    assert "wrapper implementations" in problem.error and "tryfirst" in problem.error
    assert "NoneType" not in problem.error


def test_unknown_hook_name_is_a_register_problem() -> None:
    class Typo:
        @hookimpl
        def doctor_add_check(self) -> list[Check]:
            return []

    manager = PluginManager(plugins=[Typo()], load_entrypoints=False)
    [problem] = manager.problems
    assert problem.stage == "register" and "doctor_add_check" in problem.error


def test_config_model_import_strings_are_resolved_only_when_the_configuration_is_read(
    plugin_site: PluginSite,
) -> None:
    plugin_site.add_distribution("dtp-good", {"dtp_good": "dtp_good"}, ["dtp_good", "dtp_good_checks"])
    plugin_site.add_distribution("dtp-badmodel", {"dtp_badmodel": "dtp_bad_model"}, ["dtp_bad_model"])
    doctor = _doctor(plugin_site)

    # Listing (and the flags for --help) never imports a model: no problem yet.
    assert "check.dtp.badmodel.run" in [d.check_id for d in doctor.checks(tags=["dtp"])]
    assert ("MISSING", "--missing-flag") in [(s, f.flag) for s, f in doctor.config_flags()]
    assert _problems(doctor, "dtp_badmodel") == []

    config = doctor.config
    problems = _problems(doctor, "dtp_badmodel")
    assert [p.stage for p in problems] == ["invalid-contribution", "invalid-contribution"]
    assert {p.distribution for p in problems} == {"dtp-badmodel"}
    missing, not_model = (p.error for p in problems)
    assert "'dtp_no_such_module:Settings'" in missing and "ModuleNotFoundError" in missing
    assert "'dtp_bad_model:NotAModel' is not a pydantic BaseModel subclass" in not_model
    # The broken sections are left out; the healthy plugin's section works.
    assert set(config.section_names) == {"GOOD"}
    assert doctor.section("GOOD").Greeting == "hello"
    # Resolved once: reading the configuration again records nothing new.
    assert len(doctor.plugin_manager.section_models()) == 1
    assert len(_problems(doctor, "dtp_badmodel")) == 2

    report = doctor.run(tags=["dtp"])
    assert report.result("check.dtp.good.hello").status == "pass"
    assert report.result("check.dtp.badmodel.run").status == "pass"  # ran with config None
    assert sum(p.plugin == "dtp_badmodel" for p in report.plugin_errors) == 2


def test_config_model_problems_are_errors_in_strict_mode(plugin_site: PluginSite) -> None:
    plugin_site.add_distribution("dtp-badmodel", {"dtp_badmodel": "dtp_bad_model"}, ["dtp_bad_model"])
    doctor = _doctor(plugin_site, strict_plugins=True)
    assert len(doctor.checks()) == 1  # loading and listing are fine
    wording = r"plugin 'dtp_badmodel' \(distribution dtp-badmodel\) failed at invalid-contribution"
    with pytest.raises(PluginError, match=wording) as caught:
        _ = doctor.config
    assert caught.value.exit_code == 2


def test_config_section_shapes_are_checked_at_collection_without_importing() -> None:
    class Shapes:
        @hookimpl
        def doctor_add_config_sections(self) -> Iterable[ConfigSection]:
            return [
                ConfigSection("NOCOLON", "just_a_module"),
                ConfigSection("NUMBER", 42),  # type: ignore[arg-type]
                ConfigSection("LAZY", "tests.core.test_core_config:Settings"),
            ]

    manager = PluginManager(plugins=[Shapes()], load_entrypoints=False)
    assert list(manager.config_sections()) == ["LAZY"]
    errors = [p.error for p in manager.problems]
    assert len(errors) == 2 and all("'module:ClassName' import string" in e for e in errors)
    from tests.core.test_core_config import Settings

    assert manager.section_models() == {"LAZY": Settings}
