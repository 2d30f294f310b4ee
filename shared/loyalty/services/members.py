"""Members: enrollment, the member view, profile changes, erasure and the data export."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

from ulid import ULID

from loyalty.domain.identity import mailbox, normalise_email, normalise_phone
from loyalty.domain.ledger import PROFILE_FIELDS, Member
from loyalty.domain.program import ProgramConfig
from loyalty.errors import InvalidState, MemberExists, NotFound
from loyalty.models import EnrollRequest, PatchMemberRequest
from loyalty.services.events import event
from loyalty.services.retry import attempts, busy
from loyalty.services.views import lot_view, member_view, transaction_view
from loyalty.store.items import entry_from_item, lot_from_item
from loyalty.store.jobs import Due
from loyalty.store.store import Cancelled, Identity, LoyaltyStore


def identities(member: Member) -> list[Identity]:
    """The uniqueness markers of a member: email, its mailbox, phone.

    The mailbox marker refuses a second member for the same mailbox (a+promo@gmail.com after
    a@gmail.com): such an account only serves to farm welcome bonuses and referral rewards, and a
    person who forgot they enrolled is better told so than given a second, split balance.
    """
    found = [Identity("email", member.email), Identity("mailbox", mailbox(member.email))] if member.email else []
    return found + ([Identity("phone", member.phone)] if member.phone else [])


def identity_taken(cancelled: Cancelled) -> MemberExists | None:
    """The 409 for markers another member holds (None: the transaction failed for another reason).

    Only a failed condition means taken: a marker that lost a race with another transaction
    (TransactionConflict) wrote nothing and says nothing about who holds the address.
    """
    taken = [kind for kind in ("email", "phone") if cancelled.failed(f"identity_{kind}")]
    same_mailbox = cancelled.failed("identity_mailbox") and "email" not in taken
    if same_mailbox:
        taken.insert(0, "email")
    if not taken:
        return None
    message = f"{' and '.join(taken)} already enrolled in this program"
    if same_mailbox:
        return MemberExists(message + " (the same mailbox)", fields=taken, match="same_mailbox")
    return MemberExists(message, fields=taken)


def birthday_due(member: Member) -> tuple[Due, ...]:
    """The birthday reminder's index entry (only month and day: the year is nobody's business)."""
    return (Due("birthday", month_day=member.birthday[5:10]),) if member.birthday else ()


def enroll(store: LoyaltyStore, config: ProgramConfig, request: EnrollRequest, now: datetime) -> tuple[Member, bool]:
    """A new member with the entry tier; email and phone unique in the program. Returns (member, created)."""
    email = normalise_email(request.email)
    phone = normalise_phone(request.phone, request.country) if request.phone else None
    member = Member(
        program_id=config.program_id,
        member_id=request.member_id or str(ULID.from_datetime(now)),
        enrolled_at=now,
        email=email,
        phone=phone,
        first_name=request.first_name,
        last_name=request.last_name,
        birthday=request.birthday.isoformat() if request.birthday else None,
        country=request.country,
        attributes=request.attributes,
        consents=request.consents.model_dump(),
        tier=config.entry_tier(),
        last_activity_at=now,
    )
    outbox_id = str(ULID.from_datetime(now))
    outbox = [event("member.enrolled", member.program_id, member.member_id, tier=member.tier, event_id=outbox_id)]
    reminders = config.settings.reminders
    # Index entries only for the reminders the program sends (a welcome or birthday reminder
    # switched on later reaches members who enroll from then on).
    due = (*((Due("welcome", at=now),) if reminders.welcome_days_after else ()), *birthday_due(member))
    for _ in attempts(spent=busy):
        try:
            store.enroll(member, identities(member), outbox_id, outbox, due)
        except Cancelled as cancelled:
            if cancelled.contended:
                continue  # another transaction held one of the items: nothing was written
            existing = cancelled.existing("profile")
            if existing is not None:
                # A retried enrollment of the same person answers with the member it made.
                if existing.get("email") == email and existing.get("phone") == phone:
                    stored = store.get_member(member.program_id, member.member_id)
                    if stored is not None:
                        return stored, False
                raise MemberExists("a member with this member_id exists", field="member_id") from cancelled
            taken = identity_taken(cancelled)
            if taken is None:
                raise
            raise taken from cancelled
        return member, True
    raise AssertionError("unreachable")  # attempts() raises 503 when spent


def get_member_view(
    store: LoyaltyStore, config: ProgramConfig, member_id: str, now: datetime, *, for_admin: bool
) -> dict[str, Any]:
    member, lots = store.get_member_and_open_lots(config.program_id, member_id)
    if member is None:
        raise NotFound("member not found", member_id=member_id)
    return member_view(member, lots, now, config, for_admin=for_admin)


def patch(
    store: LoyaltyStore, config: ProgramConfig, member_id: str, request: PatchMemberRequest, now: datetime
) -> dict[str, Any]:
    """Change profile, attributes or consents; a new email or phone moves its uniqueness marker."""
    program_id = config.program_id
    changes = request.model_dump(exclude_unset=True)
    for _ in attempts():
        member = store.get_member(program_id, member_id)
        if member is None:
            raise NotFound("member not found", member_id=member_id)
        if member.erased:
            raise InvalidState("the member was erased", member_id=member_id)
        after = replace(member)
        for name, value in changes.items():
            if name == "attributes":
                after.attributes = {**member.attributes, **(value or {})}
            elif name == "consents":
                after.consents = {**member.consents, **(value or {})}
            elif name == "birthday":
                after.birthday = value.isoformat() if value else None
            else:
                setattr(after, name, value)
        if "email" in changes:
            after.email = normalise_email(changes["email"]) if changes["email"] else member.email
        if "phone" in changes or "country" in changes:
            after.phone = normalise_phone(after.phone, after.country) if after.phone else None
        before_ids, after_ids = set(identities(member)), set(identities(after))
        outbox_id = str(ULID.from_datetime(now))
        outbox = [event("member.updated", program_id, member_id, fields=sorted(changes), event_id=outbox_id)]
        birthday = (birthday_due(after) or (Due("birthday", remove=True),)) if "birthday" in changes else ()
        try:
            store.update_profile(
                member,
                after,
                sorted(after_ids - before_ids, key=str),
                sorted(before_ids - after_ids, key=str),
                outbox_id,
                outbox,
                birthday,
            )
        except Cancelled as cancelled:
            taken = identity_taken(cancelled)
            if taken is not None:
                raise taken from cancelled
            continue  # the profile changed meanwhile, or a transaction conflict: read again
        return get_member_view(store, config, member_id, now, for_admin=True)
    raise AssertionError("unreachable")


def erase(store: LoyaltyStore, program_id: str, member_id: str, now: datetime) -> dict[str, Any]:
    """Right to erasure: personal data and identity markers go; ledger amounts stay, anonymous."""
    for _ in attempts():
        member = store.get_member(program_id, member_id)
        if member is None:
            raise NotFound("member not found", member_id=member_id)
        if member.erased:
            return {"member_id": member_id, "status": "erased"}
        after = replace(member, status="erased", attributes={}, consents={})
        for name in PROFILE_FIELDS:
            if name not in ("attributes", "consents"):
                setattr(after, name, None)
        outbox_id = str(ULID.from_datetime(now))
        outbox = [event("member.erased", program_id, member_id, event_id=outbox_id)]
        try:
            # The birthday index entry is personal data too.
            store.update_profile(
                member, after, [], identities(member), outbox_id, outbox, (Due("birthday", remove=True),)
            )
        except Cancelled:
            continue
        return {"member_id": member_id, "status": "erased"}
    raise AssertionError("unreachable")


def export(store: LoyaltyStore, config: ProgramConfig, member_id: str, now: datetime) -> dict[str, Any]:
    """Everything held on the member, in readable form (data portability)."""
    program_id = config.program_id
    items = store.member_items(program_id, member_id)
    profile = next((item for item in items if item["SK"] == "PROFILE"), None)
    if profile is None:
        raise NotFound("member not found", member_id=member_id)
    member, lots = store.get_member_and_open_lots(program_id, member_id)
    assert member is not None
    entries = sorted(
        (entry_from_item(item) for item in items if item.get("type") == "entry"), key=lambda e: e.transaction_id
    )
    return {
        "exported_at": now.isoformat(),
        "member": member_view(member, lots, now, config, for_admin=True)
        | {"attributes": member.attributes, "consents": member.consents},
        "transactions": [transaction_view(entry) for entry in entries],
        "lots": [lot_view(lot_from_item(item)) for item in items if "lot_points" in item],
    }
