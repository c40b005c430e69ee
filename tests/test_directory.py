"""Tests for gateway.directory. All names are fictional and all numbers are from +99290000xxxx."""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path

import pytest

from gateway.directory import (
    Directory,
    DirectoryError,
    District,
    Organisation,
    Problem,
    Responder,
    load,
)
from gateway.phone import mask

EXAMPLE = Path(__file__).resolve().parents[1] / "config" / "directory.example.yaml"
DISTRICTS = ["vakhsh", "jami", "levakand", "kushoniyon", "bokhtar", "khujand", "dushanbe"]


@pytest.fixture(scope="module")
def example() -> Directory:
    return load(EXAMPLE)


def test_example_loads_with_all_districts(example: Directory) -> None:
    assert list(example.districts) == DISTRICTS
    assert set(example.organisations) == {"nur", "sughd", "mehr"}
    assert example.version == hashlib.sha256(EXAMPLE.read_bytes()).hexdigest()[:12]
    assert isinstance(example.organisations["nur"], Organisation)
    assert isinstance(example.districts["jami"], District)


def test_example_districts_have_names_in_every_language(example: Directory) -> None:
    assert example.district_names("tg") == [
        ("vakhsh", "Вахш"),
        ("jami", "Ҷомӣ"),
        ("levakand", "Леваканд"),
        ("kushoniyon", "Кушониён"),
        ("bokhtar", "Бохтар"),
        ("khujand", "Хуҷанд"),
        ("dushanbe", "Душанбе"),
    ]
    assert dict(example.district_names("uz"))["khujand"] == "Xojand"
    assert dict(example.district_names("en"))["jami"] == "Jami"
    with pytest.raises(ValueError, match="unknown language"):
        example.district_names("fr")


@pytest.mark.parametrize("district", DISTRICTS)
def test_example_district_has_the_required_responders(example: Directory, district: str) -> None:
    assert len(example.responders_for(district, roles={"group"}, tier=1)) == 2
    assert len(example.responders_for(district, roles={"mahalla"})) == 1
    assert len(example.responders_for(district, roles="police")) == 1
    tiers = example.tiers(district)
    assert tiers == list(range(1, len(tiers) + 1))
    duty = example.duty_officer_for(district)
    assert duty is not None and duty.role == "duty"


def test_example_uses_only_synthetic_numbers(example: Directory) -> None:
    phones = [r.phone for r in example.responders.values()]
    assert all(p.startswith("+99290000") and len(p) == 13 for p in phones)
    assert len(set(phones)) == len(phones)


def test_helpers(example: Directory) -> None:
    vakhsh = example.responders_for("vakhsh")
    assert [r.id for r in vakhsh][:1] == ["nur-coordinator"]  # file order
    assert [r.id for r in example.responders_for("vakhsh", tier=2)] == ["nur-coordinator"]
    assert [r.role for r in example.responders_for("vakhsh", roles=["police"])] == ["police"]
    assert example.responders_for("nowhere") == []
    assert example.tiers("vakhsh") == [1, 2, 3]
    assert example.tiers("dushanbe") == [1, 2]
    assert example.tiers("nowhere") == []
    # A duty officer lists no districts: it is reached through its organisation.
    assert example.responders_for("vakhsh", roles={"duty"}) == []
    assert example.duty_officer_for("vakhsh").id == "duty-nur"
    assert example.duty_officer_for("khujand").id == "duty-sughd"
    assert example.duty_officer_for("nowhere") is None
    found = example.by_phone("+992900001001")
    assert isinstance(found, Responder) and found.id == "vakhsh-group-1"
    assert example.by_phone("+992900009999") is None
    assert example.organisations["nur"].code_words["tg"][0] == "Хамираш тайёр"
    assert example.organisations["mehr"].default_district == "dushanbe"


def test_directory_objects_are_frozen_and_do_not_show_phones(example: Directory) -> None:
    responder = example.responders["vakhsh-group-1"]
    with pytest.raises(dataclasses.FrozenInstanceError):
        responder.tier = 2  # type: ignore[misc]
    assert responder.phone not in repr(responder)


# A small valid directory. Line numbers matter: the cases below replace one line each.
BASE = """\
organisations:
  - id: nur
    name: Nur women's network
    duty_officer: duty-nur
    default_district: vakhsh
    code_words: {tg: [Хамираш тайёр], ru: [Тесто готово]}
districts:
  - id: vakhsh
    organisation: nur
    names: {tg: Вахш, ru: Вахш, uz: Vaxsh, en: Vakhsh}
    mahallas: [Navbahor, Guliston]
responders:
  - id: r1
    name: Malika R.
    phone: "+992900001001"
    role: group
    tier: 1
    languages: [tg, ru]
    districts: [vakhsh]
  - id: r2
    name: Zarina S.
    phone: "+992900001002"
    role: police
    tier: 2
    languages: [tg]
    districts: [vakhsh]
  - id: duty-nur
    name: Nur duty phone
    phone: "+992900001009"
    role: duty
    tier: 3
    languages: [tg, ru, uz, en]
"""


def edit(*changes: tuple[int, str]) -> str:
    """BASE with the given 1-based lines replaced, so that no other line moves."""
    lines = BASE.splitlines()
    for number, text in changes:
        lines[number - 1] = text
    return "\n".join(lines) + "\n"


def problems(tmp_path: Path, text: str) -> list[str]:
    path = tmp_path / "directory.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(DirectoryError) as caught:
        load(path)
    reported = str(caught.value).splitlines()  # compiler style: FILE:LINE: message
    assert reported == [str(p) for p in caught.value.problems]
    assert all(line.startswith(f"{path}:") for line in reported)
    return [line.removeprefix(f"{path}:") for line in reported]


def test_base_is_valid(tmp_path: Path) -> None:
    path = tmp_path / "directory.yaml"
    path.write_text(BASE, encoding="utf-8")
    directory = load(path)
    assert list(directory.responders) == ["r1", "r2", "duty-nur"]
    assert directory.tiers("vakhsh") == [1, 2]


BAD = [
    pytest.param(
        11,
        "    mahalas: [Navbahor]",
        "11: district vakhsh has unknown field 'mahalas' (did you mean 'mahallas'?)",
        id="unknown-key-typo",
    ),
    pytest.param(
        11,
        "    id: vakhsh2",
        "11: district vakhsh has field 'id' twice (first on line 8)",
        id="key-twice",
    ),
    pytest.param(
        14, "    # name: Malika R.", "13: responder r1 is missing 'name'", id="missing-field"
    ),
    pytest.param(14, "    name:", "14: responder r1 is missing 'name'", id="field-without-value"),
    pytest.param(
        14,
        "    name: [Malika, R.]",
        "14: responder r1 has a list for 'name', expected text",
        id="wrong-type",
    ),
    pytest.param(
        19,
        "    districts: vakhsh",
        "19: responder r1 has text for 'districts', expected a list",
        id="wrong-type-list",
    ),
    pytest.param(
        19,
        "    districts: [vakhsh, vahsh]",
        "19: responder r1 lists unknown district 'vahsh'",
        id="unknown-district",
    ),
    pytest.param(
        9,
        "    organisation: nurr",
        "9: district vakhsh belongs to unknown organisation 'nurr'",
        id="unknown-organisation",
    ),
    pytest.param(
        4,
        "    duty_officer: duty-nurr",
        "4: organisation nur has duty officer 'duty-nurr', who is not a responder",
        id="duty-officer-unknown",
    ),
    pytest.param(
        4,
        "    duty_officer: r1",
        "4: organisation nur has duty officer 'r1' whose role is 'group', not 'duty'",
        id="duty-officer-wrong-role",
    ),
    pytest.param(
        5,
        "    default_district: vakhs",
        "5: organisation nur has unknown default district 'vakhs'",
        id="default-district-unknown",
    ),
    pytest.param(
        20,
        "  - id: r1",
        "20: duplicate responder id 'r1' (first on line 13)",
        id="duplicate-id",
    ),
    pytest.param(
        16,
        "    role: grop",
        "16: responder r1 has unknown role 'grop', expected one of group, mahalla, police, duty",
        id="bad-role",
    ),
    pytest.param(
        17,
        "    tier: 0",
        "17: responder r1 has 0 for 'tier', expected a whole number of at least 1",
        id="tier-zero",
    ),
    pytest.param(
        17,
        "    tier: first",
        "17: responder r1 has text for 'tier', expected a whole number of at least 1",
        id="tier-text",
    ),
    pytest.param(
        17,
        "    tier: 1.5",
        "17: responder r1 has a decimal number for 'tier', expected a whole number of at least 1",
        id="tier-decimal",
    ),
    pytest.param(
        17,
        "    tier: yes",
        "17: responder r1 has true/false for 'tier', expected a whole number of at least 1",
        id="tier-bool",
    ),
    pytest.param(
        18,
        "    languages: [tg, tj]",
        "18: responder r1 lists unknown language 'tj', expected one of tg, ru, uz, en",
        id="unknown-language",
    ),
    pytest.param(
        18,
        "    languages: []",
        "18: responder r1 lists no languages",
        id="no-languages",
    ),
    pytest.param(
        10,
        "    names: {tg: Вахш, ru: Вахш, en: Vakhsh}",
        "10: district vakhsh has no name in uz",
        id="district-name-missing",
    ),
    pytest.param(
        10,
        "    names: {tg: Вахш, ru: Вахш, uz: Vaxsh, en: Vakhsh, tj: Вахш}",
        "10: district vakhsh has unknown language 'tj' in 'names'",
        id="district-name-unknown-language",
    ),
    pytest.param(
        10,
        "    names: {tg: Вахш, ru: Вахш, uz: '', en: Vakhsh}",
        "10: district vakhsh has an empty value for 'names.uz'",
        id="district-name-empty",
    ),
    pytest.param(
        6,
        "    code_words: {tg: Хамираш тайёр}",
        "6: organisation nur has text for 'code_words.tg', expected a list",
        id="code-words-not-a-list",
    ),
    pytest.param(
        17,
        "    tier: 2",
        "8: district vakhsh has no tier-1 responder",
        id="no-tier-1",
    ),
    pytest.param(
        24,
        "    tier: 3",
        "8: district vakhsh has responders at tiers 1, 3 but none at tier 2",
        id="tier-gap",
    ),
    pytest.param(
        26,
        "    districts: []",
        "26: responder r2 lists no districts",
        id="no-districts",
    ),
]


@pytest.mark.parametrize(("line", "text", "expected"), BAD)
def test_bad_file_is_reported_at_its_line(
    tmp_path: Path, line: int, text: str, expected: str
) -> None:
    assert problems(tmp_path, edit((line, text))) == [expected]


def test_same_phone_in_two_forms_names_both_lines(tmp_path: Path) -> None:
    found = problems(tmp_path, edit((22, "    phone: 900001001")))
    assert found == [
        f"22: responder r2 has the same phone {mask('+992900001001')} as responder r1 on line 15"
    ]
    assert "900001001" not in found[0]


def test_invalid_phone_gives_the_reason_and_only_a_masked_number(tmp_path: Path) -> None:
    found = problems(tmp_path, edit((15, '    phone: "+992 900 001 0011"')))
    assert found == [
        f"15: responder r1 has an invalid phone {mask('+992 900 001 0011')}: "
        "too long for a Tajik number (10 digits after +992, need 9)"
    ]
    assert "0011" not in found[0]


def test_phone_with_letters_is_not_echoed(tmp_path: Path) -> None:
    found = problems(tmp_path, edit((15, '    phone: "call 900001001"')))
    assert found == ["15: responder r1 has an invalid phone ***01: contains letters"]


def test_unquoted_phone_keeps_its_plus_sign(tmp_path: Path) -> None:
    path = tmp_path / "directory.yaml"
    path.write_text(edit((15, "    phone: +992900001001")), encoding="utf-8")
    assert load(path).responders["r1"].phone == "+992900001001"


def test_duty_officer_needs_no_districts_nor_tier_continuity(tmp_path: Path) -> None:
    path = tmp_path / "directory.yaml"
    path.write_text(edit((31, "    tier: 9")), encoding="utf-8")
    directory = load(path)
    assert directory.tiers("vakhsh") == [1, 2]
    assert directory.duty_officer_for("vakhsh").id == "duty-nur"


def test_several_problems_are_all_reported_in_line_order(tmp_path: Path) -> None:
    text = edit(
        (4, "    duty_officer: r2"),
        (10, "    names: {tg: Вахш, ru: Вахш}"),
        (16, "    role: leader"),
        (19, "    districts: [vakhsh, vahsh]"),
        (25, "    languages: [tg, tj]"),
    )
    assert problems(tmp_path, text) == [
        "4: organisation nur has duty officer 'r2' whose role is 'police', not 'duty'",
        "10: district vakhsh has no name in uz, en",
        "16: responder r1 has unknown role 'leader', expected one of group, mahalla, police, duty",
        "19: responder r1 lists unknown district 'vahsh'",
        "25: responder r2 lists unknown language 'tj', expected one of tg, ru, uz, en",
    ]


def test_misspelt_section_also_reports_what_it_breaks(tmp_path: Path) -> None:
    assert problems(tmp_path, edit((12, "responder:"))) == [
        "1: the file has no 'responders' section",
        "4: organisation nur has duty officer 'duty-nur', who is not a responder",
        "8: district vakhsh has no tier-1 responder",
        "12: the file has unknown section 'responder' (did you mean 'responders'?)",
    ]


def test_entry_without_usable_id_is_named_by_position(tmp_path: Path) -> None:
    found = problems(tmp_path, edit((20, "  - id: [r2]")))
    assert found == ["20: responder #2 has a list for 'id', expected text"]


NOT_A_MAPPING = "1: expected a mapping with 'organisations', 'districts' and 'responders'"
SHAPES = [
    pytest.param(
        "",
        f"{NOT_A_MAPPING}; the file is empty",
        id="empty",
    ),
    pytest.param(
        "# nothing yet\n",
        f"{NOT_A_MAPPING}; the file is empty",
        id="only-comment",
    ),
    pytest.param(
        "- nur\n- vakhsh\n",
        f"{NOT_A_MAPPING}; not a list",
        id="list",
    ),
    pytest.param(
        "organisations: []\ndistricts: []\n",
        "1: the file has no 'responders' section",
        id="missing-section",
    ),
    pytest.param(
        "organisations: nur\ndistricts: []\nresponders: []\n",
        "1: 'organisations' must be a list, not text",
        id="section-not-a-list",
    ),
    pytest.param(
        "organisations: [nur]\ndistricts:\nresponders: []\n",
        "1: 'organisations' item #1 is text, not a mapping",
        id="entry-not-a-mapping",
    ),
]


@pytest.mark.parametrize(("text", "expected"), SHAPES)
def test_wrong_shape(tmp_path: Path, text: str, expected: str) -> None:
    assert problems(tmp_path, text) == [expected]


def test_empty_sections_are_valid(tmp_path: Path) -> None:
    path = tmp_path / "directory.yaml"
    path.write_text("organisations: []\ndistricts:\nresponders: []\n", encoding="utf-8")
    assert load(path).districts == {}


def test_yaml_syntax_error_reports_its_line(tmp_path: Path) -> None:
    found = problems(tmp_path, edit((14, "    name: Malika: R.")))
    assert found == ["14: invalid YAML: mapping values are not allowed here"]


def test_unclosed_bracket_reports_a_line(tmp_path: Path) -> None:
    found = problems(tmp_path, edit((19, "    districts: [vakhsh")))
    assert found == [
        "20: invalid YAML: expected ',' or ']', but got ':' "
        "(while parsing a flow sequence on line 19)"
    ]


def test_not_utf8_reports_its_line(tmp_path: Path) -> None:
    path = tmp_path / "directory.yaml"
    path.write_bytes(BASE.encode().replace(b"Malika", b"Mal\xefka"))
    with pytest.raises(DirectoryError) as caught:
        load(path)
    assert str(caught.value) == f"{path}:14: not UTF-8 text"


def test_control_character_reports_its_line(tmp_path: Path) -> None:
    found = problems(tmp_path, edit((14, "    name: Malika\x07 R.")))
    assert found == ["14: invalid YAML: special characters are not allowed (#x0007)"]


def test_byte_order_mark_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "directory.yaml"
    path.write_bytes(b"\xef\xbb\xbf" + BASE.encode())
    assert list(load(path).districts) == ["vakhsh"]


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "nope.yaml"
    with pytest.raises(DirectoryError) as caught:
        load(path)
    assert str(caught.value) == f"{path}: cannot read: no such file"
    assert caught.value.problems == [Problem(str(path), None, "cannot read: no such file")]
    assert isinstance(caught.value, ValueError)


def test_directory_instead_of_file(tmp_path: Path) -> None:
    with pytest.raises(DirectoryError, match="cannot read"):
        load(tmp_path)


def test_phone_typed_into_another_field_is_masked(tmp_path: Path) -> None:
    found = problems(tmp_path, edit((16, '    role: "+992 900 001 001"')))
    assert found == [
        f"16: responder r1 has unknown role '{mask('+992 900 001 001')}', "
        "expected one of group, mahalla, police, duty"
    ]


GROUPS = """\
groups:
  - id: g1
    name: Levakand group
    organisation: nur
    code: "4107"
    hours: [9, 18]
    senders: [r1]
  - id: g2
    name: Second group
    organisation: sughd
    code: 4107
    hours: [18, 9]
    senders: [r9]
  - id: g3
    name: Third group
    organisation: nur
    code: "41a"
"""


def test_groups_are_optional_and_checked_line_by_line(tmp_path: Path) -> None:
    path = tmp_path / "directory.yaml"
    path.write_text(BASE + GROUPS.split("  - id: g2")[0], encoding="utf-8")
    group = load(path).groups["g1"]
    assert (group.code, group.hours, group.senders) == ("4107", (9, 18), ("r1",))
    base = len(BASE.splitlines())
    assert problems(tmp_path, BASE + GROUPS) == [
        f"{base + 10}: group g2 belongs to unknown organisation 'sughd'",
        f"{base + 11}: group g2 has the same code 4107 as group g1",
        f"{base + 12}: group g2 has 'hours' that are not [from, to]: whole hours, 0 to 24, "
        "from < to",
        f"{base + 13}: group g2 lists sender 'r9', who is not a responder",
        f"{base + 17}: group g3 has '41a' for 'code', expected 3 to 6 digits (JOIN 4107)",
    ]
