"""watchers.yaml: exact errors for broken files, secrets from the environment, masking, narrowing."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from crawler.config import load_config
from crawler.config.watchers import load_watchers
from crawler.exceptions import ConfigError

ROOT = Path(__file__).parent.parent
CASES = yaml.safe_load((Path(__file__).parent / "tables" / "bad_watchers.yaml").read_text("utf-8"))
TOPICS, SOURCES = {"ia", "jazari"}, {"hespress-ar", "telquel"}
ENV = {"HOOK_SECRET": "s3cret", "TG_TOKEN": "123:abc"}
GOOD = """watchers:
  - name: cellule-ia
    topics: [ia]
    sources: [hespress-ar]
    languages: [ar]
    email: [veille@example.ma]
    webhook: {url: "https://hooks.example.ma/veille", secret: "${HOOK_SECRET}"}
    apprise: ["tgram://${TG_TOKEN}/42"]
    mode: "weekly mon 08:00"
    quiet_hours: "22:00-07:00"
    max_per_hour: 20
"""


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_broken_watchers_message(tmp_path: Path, case: dict) -> None:
    path = tmp_path / "watchers.yaml"
    path.write_text(case["text"], "utf-8")
    with pytest.raises(ConfigError) as caught:
        load_watchers(path, TOPICS, SOURCES, ENV)
    assert caught.value.problems[0] == case["error"].replace("{dir}", str(tmp_path))


def test_secrets_are_read_from_the_environment_and_masked(tmp_path: Path) -> None:
    path = tmp_path / "watchers.yaml"
    path.write_text(GOOD, "utf-8")
    [watcher] = load_watchers(path, TOPICS, SOURCES, ENV)
    assert watcher.webhook.secret.value == "s3cret"
    assert watcher.apprise[0].value == "tgram://123:abc/42"
    shown = repr(watcher) + str(watcher.webhook.secret) + str(watcher.apprise[0])
    assert "s3cret" not in shown and "123:abc" not in shown
    assert str(watcher.apprise[0]) == "tgram://${TG_TOKEN}=***/42"


def test_a_watcher_follows_its_topics_narrowed_by_source_and_language(tmp_path: Path) -> None:
    path = tmp_path / "watchers.yaml"
    path.write_text(GOOD, "utf-8")
    [watcher] = load_watchers(path, TOPICS, SOURCES, ENV)
    assert watcher.follows("ia", "hespress-ar", "ar")
    assert not watcher.follows("jazari", "hespress-ar", "ar")
    assert not watcher.follows("ia", "telquel", "ar")
    assert not watcher.follows("ia", "hespress-ar", "fr")


def test_the_shipped_watchers_file_and_its_examples_load(tmp_path: Path) -> None:
    assert load_config(ROOT / "config").watchers == ()
    examples = (
        (ROOT / "config" / "watchers.yaml").read_text("utf-8").split("# Examples (uncomment and adapt):")[1]
    )
    text = "watchers:\n" + "\n".join(
        line.removeprefix("#") for line in examples.splitlines() if line.startswith("#   ") or line == "#"
    )
    path = tmp_path / "watchers.yaml"
    path.write_text(text, "utf-8")
    env = {"VEILLE_WEBHOOK_SECRET": "x", "TELEGRAM_BOT_TOKEN": "t", "TELEGRAM_CHAT_ID": "c"}
    names = [
        w.name
        for w in load_watchers(
            path,
            {"ia", "mistral-ai", "data-centers", "jazari", "souverainete", "maroc-digital-2030"},
            set(),
            env,
        )
    ]
    assert names == ["cellule-ia", "direction", "intranet", "telegram"]
