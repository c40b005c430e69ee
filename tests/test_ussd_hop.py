"""The aggregator's form becomes the core's hop: its conventions end in the adapter."""

import pytest

from gateway.channels import africastalking
from gateway.channels.africastalking import UssdFormError, parse

FORM = {"sessionId": "ATUid_1", "phoneNumber": "+992900001111", "serviceCode": "*384*1#"}


def test_the_first_hop_has_no_inputs():
    hop = parse({**FORM, "text": ""})
    assert hop.start and hop.inputs == () and hop.typed == "" and hop.previous == ""


def test_inputs_previous_and_typed_come_from_the_joined_text():
    hop = parse({**FORM, "text": "1*2*3"})
    assert not hop.start
    assert hop.inputs == ("1", "2", "3")
    assert (hop.previous, hop.typed, hop.history) == ("1*2", "3", "1*2*3")


@pytest.mark.parametrize(
    ("handled", "text", "typed"),
    [
        ("", "2", "2"),  # first input after the first screen
        ("1*2", "1*2*3", "3"),  # the usual hop
        ("1", "1*2*3", "2*3"),  # she typed "2*3" at once: handed on as she typed it
        ("9*9", "1*2", "2"),  # a history that does not extend ours: her last input
    ],
)
def test_typed_since_the_handled_hop(handled, text, typed):
    assert africastalking.hop("s", "+992900001111", text).typed_since(handled) == typed


@pytest.mark.parametrize(
    ("form", "reason"),
    [
        ({"phoneNumber": "+992900001111"}, "sessionId is missing"),
        ({"sessionId": "x" * 200, "phoneNumber": "+992900001111"}, "plausible session id"),
        ({"sessionId": "s"}, "phoneNumber is missing"),
    ],
)
def test_a_broken_form_names_the_field(form, reason):
    with pytest.raises(UssdFormError, match=reason):
        parse(form)
