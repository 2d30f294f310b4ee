"""Email and phone in the one form in which they are unique per program."""

from __future__ import annotations

import pytest

from loyalty.domain.identity import mailbox, normalise_email, normalise_phone
from loyalty.errors import ValidationFailed


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        pytest.param("alice@example.com", "alice@example.com", id="already-normal"),
        pytest.param("Alice@Example.COM", "alice@example.com", id="mixed-case"),
        pytest.param("  alice@example.com\t\n", "alice@example.com", id="surrounding-whitespace"),
        pytest.param("  ALICE@EXAMPLE.COM ", "alice@example.com", id="upper-case-and-spaces"),
        pytest.param("Bob.Smith+promo@Mail.Example.org", "bob.smith+promo@mail.example.org", id="plus-and-subdomain"),
    ],
)
def test_given_an_email_in_any_case_or_padding_then_it_normalises_to_one_lower_case_form(
    given: str, expected: str
) -> None:
    assert normalise_email(given) == expected


def test_given_two_spellings_of_one_address_then_they_normalise_to_the_same_identity() -> None:
    assert normalise_email(" Carol@Shop.EXAMPLE ") == normalise_email("carol@shop.example")


@pytest.mark.parametrize(
    "given",
    [
        pytest.param("", id="empty"),
        pytest.param("   ", id="blank"),
        pytest.param("not-an-email", id="no-at-sign"),
        pytest.param("alice@", id="no-domain"),
        pytest.param("@example.com", id="no-local-part"),
        pytest.param("alice@@example.com", id="two-at-signs"),
        pytest.param("a lice@example.com", id="space-inside"),
        pytest.param("alice@example", id="domain-without-dot"),
        pytest.param("alice@localhost", id="localhost"),
    ],
)
def test_given_an_invalid_email_then_it_is_refused_as_a_validation_error_on_the_email_field(given: str) -> None:
    with pytest.raises(ValidationFailed) as refused:
        normalise_email(given)

    assert refused.value.details["field"] == "email"
    assert refused.value.status == 422


@pytest.mark.parametrize(
    ("given", "country", "expected"),
    [
        pytest.param("+49 30 1234567", None, "+49301234567", id="international-with-spaces"),
        pytest.param("+49 (0)30 123-4567", None, "+49301234567", id="international-with-trunk-zero"),
        pytest.param("030 1234567", "DE", "+49301234567", id="german-national"),
        pytest.param("030 1234567", "de", "+49301234567", id="lower-case-country"),
        pytest.param("(212) 736-5000", "US", "+12127365000", id="us-national"),
        pytest.param("020 7946 0958", "GB", "+442079460958", id="uk-national"),
        pytest.param("+33 1 23 45 67 89", "DE", "+33123456789", id="international-ignores-country"),
        pytest.param("00 33 1 23 45 67 89", "DE", "+33123456789", id="exit-code-read-in-country"),
    ],
)
def test_given_a_phone_number_then_it_normalises_to_e164_reading_national_numbers_in_the_members_country(
    given: str, country: str | None, expected: str
) -> None:
    assert normalise_phone(given, country) == expected


def test_given_the_same_number_written_nationally_and_internationally_then_both_are_the_same_identity() -> None:
    assert normalise_phone("030 1234567", "DE") == normalise_phone("+49-30-123 4567", None)


@pytest.mark.parametrize(
    ("given", "country"),
    [
        pytest.param("", None, id="empty"),
        pytest.param("hello", "DE", id="letters"),
        pytest.param("030 1234567", None, id="national-without-country"),
        pytest.param("030 1234567", "", id="national-with-empty-country"),
        pytest.param("030 1234567", "ZZ", id="unknown-country"),
        pytest.param("+49 1", None, id="too-short"),
        pytest.param("+1 555 0100", None, id="incomplete-us-number"),
        pytest.param("+999 1234567", None, id="unassigned-country-code"),
    ],
)
def test_given_a_number_that_cannot_be_a_real_phone_then_it_is_refused_on_the_phone_field(
    given: str, country: str | None
) -> None:
    with pytest.raises(ValidationFailed) as refused:
        normalise_phone(given, country)

    assert refused.value.details["field"] == "phone"
    assert refused.value.status == 422


# --- the mailbox behind an address (duplicate detection) -------------------------------------------


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        pytest.param("alice@gmail.com", "alice@gmail.com", id="plain-gmail"),
        pytest.param("alice+promo@gmail.com", "alice@gmail.com", id="gmail-plus-addressing"),
        pytest.param("a.l.i.c.e@gmail.com", "alice@gmail.com", id="gmail-ignores-dots"),
        pytest.param("a.lice+x+y@googlemail.com", "alice@gmail.com", id="googlemail-is-gmail"),
        pytest.param("bob.smith+shop@outlook.com", "bob.smith@outlook.com", id="outlook-keeps-dots"),
        pytest.param("carol+tag@icloud.com", "carol@icloud.com", id="icloud-plus"),
        pytest.param("carol@me.com", "carol@icloud.com", id="me-com-is-icloud"),
        pytest.param("dave+news@proton.me", "dave@proton.me", id="proton-plus"),
        pytest.param("erin-shopping@yahoo.com", "erin-shopping@yahoo.com", id="yahoo-untouched"),
        pytest.param("frank.b+shop@example.com", "frank.b+shop@example.com", id="unknown-domain-untouched"),
        pytest.param("g.h@company.example", "g.h@company.example", id="custom-domain-keeps-dots"),
    ],
)
def test_given_a_normalised_address_then_its_mailbox_drops_only_what_its_provider_ignores(
    address: str, expected: str
) -> None:
    assert mailbox(normalise_email(address)) == expected


def test_given_two_gmail_spellings_of_one_mailbox_then_they_share_it_but_not_their_address() -> None:
    first, second = normalise_email("Ann.Lee@gmail.com"), normalise_email("annlee+welcome@GoogleMail.com")

    assert first != second
    assert mailbox(first) == mailbox(second) == "annlee@gmail.com"
