"""What an installed diffgames carries: its version on the command line and the bundled cases,
found through ``importlib.resources`` from any working directory (not by a path relative to
the source checkout)."""
from __future__ import annotations

from importlib.resources import files
from pathlib import Path

import pytest

import diffgames
from arena.comparisons.cases import bundled_cases, find_case, load_case
from arena.cli.main import main


def test_version_prints_the_installed_version(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.strip() == f"diffgames {diffgames.__version__}"
    assert diffgames.__version__ != "0+unknown"  # read from the installed distribution


def test_bundled_cases_are_the_toml_files_of_the_cases_package():
    resources = files("cases")
    names = sorted(e.name for e in resources.iterdir() if e.name.endswith(".toml"))
    found = bundled_cases()
    assert "quickstart.toml" in names
    assert [p.name for p in found] == names
    assert all(isinstance(p, Path) and p.is_file() for p in found)
    assert found[names.index("quickstart.toml")].read_text() == resources.joinpath("quickstart.toml").read_text()


def test_find_case_by_name_from_another_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = find_case("quickstart")
    assert path.is_absolute() and path.name == "quickstart.toml"
    case = load_case(path)
    assert case.name == "quickstart"
    assert case.reference_name() == "quickstart"  # recognised as bundled, not as a path


def test_a_case_file_in_the_working_directory_is_found_by_its_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("quickstart").write_text((files("cases") / "quickstart.toml").read_text())
    assert find_case("quickstart") == Path("quickstart")
