from pathlib import Path

import pytest

from fedi_forum.config import ENV_VARS, Settings


def test_base_url_is_normalised_and_gives_the_domain() -> None:
    s = Settings(base_url="https://Forum.Example.NL/")
    assert s.base_url == "https://forum.example.nl"
    assert s.domain == "forum.example.nl"
    assert Settings(base_url="http://127.0.0.1:8000").domain == "127.0.0.1:8000"


@pytest.mark.parametrize(
    "url",
    [
        pytest.param("ftp://x.nl", id="scheme"),
        pytest.param("https://x.nl/forum", id="path"),
        pytest.param("https://x.nl/?a=1", id="query"),
        pytest.param("https://", id="no-host"),
    ],
)
def test_bad_base_url_is_refused(url: str) -> None:
    with pytest.raises(ValueError, match="base URL"):
        Settings(base_url=url)


def test_load_reads_env_then_overrides_win() -> None:
    env = {
        "FEDI_FORUM_BASE_URL": "https://a.nl",
        "FEDI_FORUM_DATA_DIR": "/srv/d",
        "FEDI_FORUM_DEFAULT_LANG": "en",
    }
    s = Settings.load(env, data_dir="/other", keys_dir=None)
    assert s.base_url == "https://a.nl"
    assert s.data_dir == Path("/other")
    assert s.keys_dir == Path("keys")
    assert s.default_lang == "en"


def test_unknown_language_and_timezone_are_refused() -> None:
    with pytest.raises(ValueError, match="language"):
        Settings(default_lang="de")
    with pytest.raises(ValueError, match="time zone"):
        Settings(timezone="Mars/Olympus")


def test_every_setting_is_documented_in_the_readme() -> None:
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    for var in ENV_VARS:
        assert f"`{var}`" in readme, var


def test_command_line_flags_reach_the_settings() -> None:
    from fedi_forum.cli import build_parser
    from fedi_forum.cli.context import settings_from

    args = build_parser().parse_args(
        ["serve", "--port", "9001", "--allow-loopback", "--no-worker", "--data-dir", "/d"]
    )
    s = settings_from(args, {})
    assert s.allow_loopback is True
    assert s.run_worker is False
    assert s.base_url == "http://127.0.0.1:9001"
    assert s.data_dir == Path("/d")
    plain = settings_from(build_parser().parse_args(["serve"]), {"FEDI_FORUM_ALLOW_LOOPBACK": "1"})
    assert plain.allow_loopback is True
    assert plain.run_worker is True
    worker = settings_from(build_parser().parse_args(["worker", "--allow-loopback"]), {})
    assert worker.allow_loopback is True
