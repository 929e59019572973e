"""Settings: URL resolution per profile, validation, masking. Pure logic, no engines."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from polysocial.config import EmbeddedEngine, Profile, Role, Settings, mask_url
from polysocial.engines.layout import MAX_SOCKET_PATH, EngineLayout


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        ("postgresql://app:s3cret@db.example:5432/x", "postgresql://app:***@db.example:5432/x"),
        ("redis://:s3cret@cache:6379/0", "redis://:***@cache:6379/0"),
        ("mongodb://u:p%40ss@[::1]:27017/db?authSource=admin", "mongodb://u:***@[::1]:27017/db?authSource=admin"),
        ("bolt://localhost:7687", "bolt://localhost:7687"),
        ("unix:///tmp/redis.sock", "unix:///tmp/redis.sock"),
        ("unix:///tmp/redis.sock?graph=social", "unix:///tmp/redis.sock?graph=social"),
        # shapes a user may type that urlsplit does not read as a URL with a password
        ("app:s3cret@db.example:5432/x", "app:***@db.example:5432/x"),
        ("postgresql://app:s3c@r/t@db/x", "postgresql://app:***@db/x"),
        ("postgresql:///x?host=/run/pg&password=s3cret", "postgresql:///x?host=/run/pg&password=***"),
        ("host=db user=app password=s3cret dbname=x", "host=db user=app password=*** dbname=x"),
        ("redis://cache:6379/0?token=s3cret", "redis://cache:6379/0?token=***"),
        ("not a url at all", "not a url at all"),
    ],
)
def test_mask_url_hides_only_the_password(url: str, masked: str) -> None:
    assert mask_url(url) == masked


def test_default_profile_is_embedded_with_engines_under_the_data_dir(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    urls = settings.store_urls()
    assert settings.profile is Profile.EMBEDDED
    assert urls[Role.RELATIONAL].embedded is EmbeddedEngine.POSTGRES
    assert urls[Role.DOCUMENTS].url == urls[Role.RELATIONAL].url  # JSONB in the same PostgreSQL
    assert urls[Role.TIMESERIES].url == urls[Role.RELATIONAL].url
    assert urls[Role.GRAPH].url.startswith(f"unix://{tmp_path}")  # FalkorDB in the embedded Redis
    assert urls[Role.GRAPH].url.endswith("?graph=social")
    assert urls[Role.KEYVALUE].embedded is EmbeddedEngine.REDIS
    assert settings.embedded_engines_needed() == {EmbeddedEngine.POSTGRES, EmbeddedEngine.REDIS}


def test_seed_lists_of_several_hosts_are_urls_too() -> None:
    settings = Settings(
        profile="seed",
        documents_url="mongodb://m1:27017,m2:27017,m3:27017/polysocial?replicaSet=rs0",
        sessions_url="cassandra://c1,c2,c3:9042/polysocial",
    )
    assert settings.store_url(Role.DOCUMENTS).scheme == "mongodb"
    with pytest.raises(ValueError, match="malformed"):
        Settings(profile="seed", documents_url="mongodb://m1:27017,m2:x/polysocial")


def test_seed_profile_uses_the_article_stack_and_needs_no_embedded_engine() -> None:
    urls = Settings(profile="seed").store_urls()
    assert [urls[r].scheme for r in Role] == ["postgresql", "mongodb", "neo4j", "redis", "http", "cassandra"]
    assert Settings(profile="seed").embedded_engines_needed() == set()


def test_postgres_only_puts_every_role_in_one_postgres(tmp_path: Path) -> None:
    embedded = Settings(profile="postgres-only", data_dir=tmp_path)
    assert {u.url for u in embedded.store_urls().values()} == {embedded.embedded_postgres_url()}
    assert embedded.embedded_engines_needed() == {EmbeddedEngine.POSTGRES}

    remote = Settings(profile="postgres-only", relational_url="postgresql://app:pw@db:5432/app")
    assert {u.url for u in remote.store_urls().values()} == {"postgresql://app:pw@db:5432/app"}
    assert remote.embedded_engines_needed() == set()


def test_sessions_live_with_the_keyvalue_role_unless_given_a_url_of_their_own(tmp_path: Path) -> None:
    embedded = Settings(data_dir=tmp_path)
    assert embedded.store_url(Role.SESSIONS).url == embedded.store_url(Role.KEYVALUE).url
    assert embedded.store_url(Role.SESSIONS).embedded is EmbeddedEngine.REDIS
    elsewhere = Settings(data_dir=tmp_path, keyvalue_url="redis://cache:6379/2")
    assert elsewhere.store_url(Role.SESSIONS).url == "redis://cache:6379/2"
    cassandra = "cassandra://app:pw@c1,c2,c3:9042/polysocial"
    assert Settings(data_dir=tmp_path, sessions_url=cassandra).store_url(Role.SESSIONS).url == cassandra
    assert Settings(profile="seed").store_url(Role.SESSIONS).url == "cassandra://localhost:9042/polysocial"
    with pytest.raises(ValidationError, match="sessions URL http://x has scheme 'http'"):
        Settings(sessions_url="http://x")


def test_an_explicit_url_overrides_the_profile_for_that_role_only(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, graph_url="bolt://neo:7687")
    assert settings.store_url(Role.GRAPH).url == "bolt://neo:7687"
    assert settings.store_url(Role.GRAPH).embedded is None
    assert settings.store_url(Role.KEYVALUE).embedded is EmbeddedEngine.REDIS


def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POLYSOCIAL_PROFILE", "seed")
    monkeypatch.setenv("POLYSOCIAL_DOCUMENTS_URL", "mongodb://m:27017/app")
    settings = Settings()
    assert settings.profile is Profile.SEED
    assert settings.store_url(Role.DOCUMENTS).url == "mongodb://m:27017/app"


@pytest.mark.parametrize(
    ("field", "url", "fragment"),
    [
        ("graph_url", "ftp://x:pw@host/", "graph URL ftp://x:***@host/ has scheme 'ftp'"),
        ("documents_url", "bolt://host:7687", "documents URL bolt://host:7687 has scheme 'bolt'"),
        ("keyvalue_url", "redis://:pw@host:notaport/0", "keyvalue URL redis://:***@host:notaport/0 is malformed"),
        ("timeseries_url", "http:///db", "timeseries URL http:///db names no host"),
        ("keyvalue_url", "unix://", "keyvalue URL unix:// names no socket path"),
    ],
)
def test_a_bad_url_is_refused_in_one_line_naming_role_and_masked_url(field: str, url: str, fragment: str) -> None:
    kwargs: dict[str, Any] = {field: url}
    with pytest.raises(ValidationError) as caught:
        Settings(**kwargs)
    message = str(caught.value)
    assert fragment in message
    assert ":pw@" not in message


def test_production_refuses_the_embedded_engines() -> None:
    with pytest.raises(ValidationError, match="refuses the embedded engines"):
        Settings(environment="production")
    Settings(environment="production", profile="seed")  # real servers by URL: accepted


def test_urls_are_secret_in_reprs() -> None:
    settings = Settings(relational_url="postgresql://app:topsecret@db/app")
    assert "topsecret" not in repr(settings)


def test_socket_paths_fall_back_to_a_short_folder_when_the_data_dir_is_deep(tmp_path: Path) -> None:
    shallow = EngineLayout(tmp_path)
    assert shallow.run_dir == tmp_path / "run"
    deep = EngineLayout(tmp_path / ("d" * 120))
    assert len(str(deep.postgres_socket)) <= MAX_SOCKET_PATH
    assert len(str(deep.redis_socket)) <= MAX_SOCKET_PATH
    assert deep.run_dir == EngineLayout(tmp_path / ("d" * 120)).run_dir  # stable: the next start finds it


def test_the_old_name_of_the_keyvalue_url_still_works_with_one_deprecation_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from polysocial import config

    config._warned.clear()
    first = Settings(redis_url="redis://cache:6379/0")
    second = Settings(redis_url="redis://cache:6379/1")
    assert first.store_url(Role.KEYVALUE).url == "redis://cache:6379/0"
    assert second.store_url(Role.KEYVALUE).url == "redis://cache:6379/1"
    lines = [line for line in capsys.readouterr().err.splitlines() if "POLYSOCIAL_REDIS_URL" in line]
    assert len(lines) == 1
    assert "POLYSOCIAL_KEYVALUE_URL" in lines[0]
    with pytest.raises(ValidationError, match="KEYVALUE_URL only"):
        Settings(redis_url="redis://a:6379/0", keyvalue_url="redis://b:6379/0")
