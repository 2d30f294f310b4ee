"""Normalised identities: the forms in which email and phone are unique per program."""

from __future__ import annotations

from loyalty.errors import ValidationFailed


def normalise_email(email: str) -> str:
    """Lower-case, trimmed, syntax-checked address (the deliverability check needs no DNS)."""
    from email_validator import EmailNotValidError, validate_email

    try:
        checked = validate_email(email.strip(), check_deliverability=False)
    except EmailNotValidError as error:
        raise ValidationFailed("email is not a valid address", field="email", reason=str(error)) from error
    return checked.normalized.lower()


def mailbox(email: str) -> str:
    """The mailbox a normalised address delivers to, for spotting one person enrolling twice.

    email-normalize's table of providers (without its DNS lookups: no network at enrollment)
    says which ignore dots (gmail.com, googlemail.com), which take plus-addressing (Gmail,
    Outlook, iCloud, Fastmail, Proton, Yandex, Zoho...) and which domains are aliases (me.com is
    icloud.com). Any other domain keeps its local part whole: a "+" there may be a real mailbox.
    """
    from email_normalize import normalize

    return str(normalize(email, skip_dns=True).normalized_address)


def normalise_phone(phone: str, country: str | None) -> str:
    """E.164 form; a national number is read in the member's country."""
    import phonenumbers

    try:
        number = phonenumbers.parse(phone, (country or "").upper() or None)
    except phonenumbers.NumberParseException as error:
        raise ValidationFailed("phone is not a valid number", field="phone", reason=str(error)) from error
    if not phonenumbers.is_valid_number(number):
        raise ValidationFailed("phone is not a valid number", field="phone")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
