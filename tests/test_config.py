"""Config loading: the shipped files are valid, and each broken file gives its exact message."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from crawler.config import load_config
from crawler.exceptions import ConfigError

ROOT = Path(__file__).parent.parent
CASES = yaml.safe_load((Path(__file__).parent / "tables" / "bad_configs.yaml").read_text("utf-8"))
VALID_SOURCES = "sources:\n  - name: telquel\n    languages: [fr]\n    feeds: [https://telquel.ma/feed]\n"


def test_shipped_config_is_valid() -> None:
    config = load_config(ROOT / "config")
    assert len(config.sources) >= 30
    languages = {lang for source in config.sources for lang in source.languages}
    assert {"fr", "ar", "en"} <= languages
    assert all(source.routes for source in config.sources)


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_broken_config_message(tmp_path: Path, case: dict) -> None:
    (tmp_path / "sources.yaml").write_text(VALID_SOURCES, "utf-8")
    (tmp_path / case.get("file", "sources.yaml")).write_text(case["text"], "utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path)
    assert caught.value.problems[0] == case["error"].replace("{dir}", str(tmp_path))


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    (tmp_path / "sources.yaml").write_text(
        "sources:\n  - name: a\n    languages: [xx]\n    feeds: [nope]\n  - name: b\n    languages: [fr]\n",
        "utf-8",
    )
    (tmp_path / "settings.yaml").write_text("timeout: 0\n", "utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path)
    assert len(caught.value.problems) == 5  # a: language, URL, no route; b: no route; timeout


@pytest.mark.parametrize(
    ("file", "text", "expected"),
    [
        (
            "sources.yaml",
            "sources:\n  - name: a\n    languages: [fr]\n    feedz: [https://a.ma/feed]\n",
            "source 'a', key 'sources[0].feedz': unknown key (hint: did you mean 'feeds'?)",
        ),
        (
            "keywords.yaml",
            "topics:\n  - name: ia\n    anny: [IA]\n",
            "topic 'ia', key 'topics[0].anny': unknown key (hint: did you mean 'any'?)",
        ),
        (
            "watchers.yaml",
            "watchers:\n  - name: w\n    topics: [ia]\n    emial: [a@example.ma]\n",
            "watcher 'w', key 'watchers[0].emial': unknown key (hint: did you mean 'email'?)",
        ),
        (
            "settings.yaml",
            "- timeout: 3\n",
            "expected a mapping of settings, got list (hint: write one 'name: value' per line)",
        ),
    ],
)
def test_a_misspelt_key_is_one_error_not_two(tmp_path: Path, file: str, text: str, expected: str) -> None:
    # The misspelt list used to be reported missing as well ("no route", "no rule", "no channel").
    (tmp_path / "sources.yaml").write_text(VALID_SOURCES, "utf-8")
    (tmp_path / "keywords.yaml").write_text("topics:\n  - name: ia\n    any: [IA]\n", "utf-8")
    (tmp_path / file).write_text(text, "utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path)
    [problem] = caught.value.problems
    assert problem.split(": ", 1)[1] == expected


def test_missing_directory_names_it(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config directory not found"):
        load_config(tmp_path / "nope")


def test_veille_db_wins_over_setting(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "sources.yaml").write_text(VALID_SOURCES, "utf-8")
    (tmp_path / "settings.yaml").write_text("database: from-settings.db\n", "utf-8")
    config = load_config(tmp_path)
    monkeypatch.delenv("VEILLE_DB", raising=False)
    assert config.database_path() == Path("from-settings.db")
    monkeypatch.setenv("VEILLE_DB", str(tmp_path / "env.db"))
    assert config.database_path() == tmp_path / "env.db"
