from pathlib import Path

import pytest
from pydantic import ValidationError

from sse_flows.settings import get_settings


def test_environment_variables_are_read(isolated_settings: Path):
    settings = get_settings()
    assert settings.db == isolated_settings / "db"
    assert settings.store == "embedded"
    assert settings.progress is False


def test_yaml_file_is_below_environment(tmp_path, monkeypatch):
    config = tmp_path / "conf.yaml"
    config.write_text(
        "store: memory\ndevice: cpu\nwork_dir: ~/somewhere\nmongo_port: 27018\n"
    )
    monkeypatch.setenv("SSE_FLOWS_CONFIG_FILE", str(config))
    monkeypatch.delenv("SSE_FLOWS_WORK_DIR")
    settings = get_settings()
    assert settings.store == "memory"
    assert settings.mongo_port == 27018
    assert settings.work_dir == Path("~/somewhere").expanduser()
    monkeypatch.setenv("SSE_FLOWS_STORE", "embedded")
    assert get_settings().store == "embedded"


def test_unknown_or_bad_values_are_refused(tmp_path, monkeypatch):
    config = tmp_path / "conf.yaml"
    config.write_text("stroe: memory\n")
    monkeypatch.setenv("SSE_FLOWS_CONFIG_FILE", str(config))
    with pytest.raises(ValidationError, match="stroe"):
        get_settings()
    monkeypatch.setenv("SSE_FLOWS_CONFIG_FILE", str(tmp_path / "none.yaml"))
    monkeypatch.setenv("SSE_FLOWS_STORE", "postgres")
    with pytest.raises(ValidationError):
        get_settings()
