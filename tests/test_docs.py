"""The README documents every command and every setting, so the docs cannot drift."""

from __future__ import annotations

from pathlib import Path

import pytest

from crawler.archive.articles import open_database
from crawler.archive.schema import migrations
from crawler.cli import main
from crawler.config.settings import SETTINGS

README = (Path(__file__).parent.parent / "README.md").read_text("utf-8")


@pytest.mark.parametrize("command", sorted(main.commands))
def test_every_command_is_documented(command: str) -> None:
    assert f"`veille {command}" in README


@pytest.mark.parametrize("setting", [s.name for s in SETTINGS])
def test_every_setting_is_documented(setting: str) -> None:
    assert f"| `{setting}` |" in README


def test_every_table_and_column_is_documented(tmp_path: Path) -> None:
    db = open_database(tmp_path / "x.db")
    assert migrations.pending(db) == []
    for table in db.table_names():
        if table.startswith(("_", "articles_fts_")):
            continue
        assert f"| `{table}` |" in README, table
        if table != "articles_fts":
            for column in db[table].columns_dict:
                assert f"`{column}`" in README, f"{table}.{column}"


def test_the_readme_topic_example_loads(tmp_path: Path) -> None:
    from crawler.config.topics import load_topics

    block = README.split("### keywords.yaml: topics", 1)[1].split("```yaml", 1)[1].split("```", 1)[0]
    (tmp_path / "keywords.yaml").write_text(block, "utf-8")
    topics = load_topics(tmp_path / "keywords.yaml", {"hespress-fr", "le360-fr", "medias24"})
    assert [t.name for t in topics.topics] == ["ia", "jazari", "mistral-ai", "souverainete"]
