"""The `veille` command's thin shell: exit codes and one-line errors (no crawling here)."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from crawler.cli import main

ROOT = Path(__file__).parent.parent


def run(*args: str, env: dict | None = None):  # noqa: ANN201
    return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)


def test_check_passes_on_the_shipped_config() -> None:
    result = run("--config", str(ROOT / "config"), "check")
    assert result.exit_code == 0
    assert "OK: 50 sources" in result.output


def test_check_lists_every_problem_and_exits_1(tmp_path: Path) -> None:
    (tmp_path / "sources.yaml").write_text("sources:\n  - name: x\n    languages: [de]\n")
    result = run("--config", str(tmp_path), "check")
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 2 and all(line.startswith(f"error: {tmp_path}/sources.yaml:") for line in lines)
    assert "Traceback" not in result.output


def test_config_directory_from_the_environment(tmp_path: Path) -> None:
    result = run("check", env={"VEILLE_CONFIG": str(tmp_path / "missing")})
    assert result.exit_code == 1
    assert "config directory not found (hint: pass --config DIR or set VEILLE_CONFIG)" in result.output


def test_crawl_refuses_an_unknown_source(tmp_path: Path) -> None:
    result = run("--config", str(ROOT / "config"), "crawl", "nope")
    assert result.exit_code == 1
    assert "unknown source(s): nope" in result.output


def test_sources_and_search_on_an_empty_archive(tmp_path: Path) -> None:
    env = {"VEILLE_DB": str(tmp_path / "empty.db")}
    sources = run("--config", str(ROOT / "config"), "sources", env=env)
    assert sources.exit_code == 0 and "hespress-ar" in sources.output and "never" in sources.output
    found = run("--config", str(ROOT / "config"), "search", "الذكاء", "--since", "7d", env=env)
    assert found.exit_code == 0 and "no article found" in found.output


def test_search_rejects_a_bad_since(tmp_path: Path) -> None:
    env = {"VEILLE_DB": str(tmp_path / "empty.db")}
    result = run("--config", str(ROOT / "config"), "search", "x", "--since", "yesterday-ish", env=env)
    assert result.exit_code == 1 and "not a date or a duration" in result.output


def test_an_unwritable_database_is_a_clean_error(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("")  # tests run as root: a file in the way still stops us
    env = {"VEILLE_DB": str(tmp_path / "a-file" / "x.db")}
    result = run("--config", str(ROOT / "config"), "sources", env=env)
    assert result.exit_code == 1
    assert "a-file/x.db: cannot open the archive" in result.output and "(hint: check the path" in result.output
