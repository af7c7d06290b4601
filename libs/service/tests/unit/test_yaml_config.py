"""Config files are read as YAML 1.2: what people write means what they meant."""

from datetime import date
from pathlib import Path

import pytest
from pydantic import BaseModel, ConfigDict

from supportdesk_service.yaml_config import ConfigError, load_yaml, parse_yaml


class Closure(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    on: date


class Settings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    closures: list[Closure] = []
    answer: str = ""
    starts: str = ""
    country: str = ""


def test_an_unquoted_on_key_is_the_string_on() -> None:
    # YAML 1.1 reads the key `on` as the boolean true ("Keys should be strings").
    spec = parse_yaml("closures:\n  - {name: Closure, on: 2027-01-06}\n", "x.yaml", Settings)
    assert spec.closures == [Closure(name="Closure", on=date(2027, 1, 6))]


def test_yes_no_times_and_country_codes_stay_strings() -> None:
    spec = parse_yaml("answer: no\nstarts: 9:00\ncountry: NO\n", "x.yaml", Settings)
    assert (spec.answer, spec.starts, spec.country) == ("no", "9:00", "NO")  # 1.1: False, 540, False


def test_a_key_given_twice_is_refused_with_its_line(tmp_path: Path) -> None:
    f = tmp_path / "dup.yaml"
    f.write_text("answer: a\nstarts: b\nanswer: c\n")
    with pytest.raises(ConfigError, match=rf"{f}:3: not valid YAML: .*duplicate key"):
        load_yaml(f, Settings)


def test_broken_yaml_and_bad_fields_name_the_line() -> None:
    with pytest.raises(ConfigError, match=r"x.yaml:2: not valid YAML"):
        parse_yaml("closures: [\n", "x.yaml", Settings)
    with pytest.raises(ConfigError, match=r"x.yaml:3: closures.0.on: Input should be a valid date"):
        parse_yaml("answer: x\nclosures:\n  - {name: C, on: someday}\n", "x.yaml", Settings)
