"""Settings: the secret key rules and values a person types into environment variables."""

from __future__ import annotations

import stat
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from app.config import ConfigError, load_settings


@pytest.mark.parametrize("secret", ["", "changeme", "secret", "short-but-random"])
def test_production_refuses_a_missing_or_placeholder_secret(tmp_path: Path, secret: str) -> None:
    with pytest.raises(ConfigError, match="LEADLINK_SECRET_KEY"):
        load_settings(env="production", data_dir=tmp_path, secret_key=secret)
    assert not (tmp_path / "secret_key").exists()


def test_production_accepts_a_real_secret(tmp_path: Path) -> None:
    secret = "s" * 48
    settings = load_settings(env="production", data_dir=tmp_path, secret_key=secret)
    assert settings.secret_key.get_secret_value() == secret


def test_development_generates_a_private_secret_once(tmp_path: Path) -> None:
    first = load_settings(env="development", data_dir=tmp_path)
    second = load_settings(env="development", data_dir=tmp_path)
    secret_file = tmp_path / "secret_key"
    assert len(first.secret_key.get_secret_value()) >= 32
    assert first.secret_key == second.secret_key
    assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600


def test_processes_starting_at_once_agree_on_one_development_secret(tmp_path: Path) -> None:
    starters = 16
    barrier = threading.Barrier(starters)

    def start() -> str:
        barrier.wait()
        return load_settings(env="development", data_dir=tmp_path).secret_key.get_secret_value()

    with ThreadPoolExecutor(starters) as pool:
        secrets = set(pool.map(lambda _: start(), range(starters)))
    assert len(secrets) == 1
    assert secrets == {(tmp_path / "secret_key").read_text().strip()}
    assert sorted(path.name for path in tmp_path.iterdir()) == ["secret_key"], "no drafts left"


def test_default_database_is_sqlite_in_the_data_dir(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path)
    assert settings.effective_database_url == f"sqlite+aiosqlite:///{tmp_path / 'leadlink.db'}"


def test_trusted_proxies_from_a_comma_separated_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LEADLINK_TRUSTED_PROXIES", "10.0.0.0/8, 127.0.0.1")
    assert load_settings(data_dir=tmp_path).trusted_proxies == ["10.0.0.0/8", "127.0.0.1"]


def test_a_malformed_proxy_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEADLINK_TRUSTED_PROXIES", "not-an-ip")
    with pytest.raises(ValueError, match="not-an-ip"):
        load_settings(data_dir=tmp_path)
