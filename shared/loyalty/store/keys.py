"""The table's key schema: the only module that builds a key string."""

from __future__ import annotations

import zlib
from datetime import datetime

# Every lot earned today under a rolling policy expires on the same day: at 10,000 earns/s its
# index partition would take 10,000 writes/s. 32 slices keep each near 300/s (a partition takes
# 1,000), and the sweep reads a day as 32 parallel messages.
EXPIRY_SHARDS = 32
NEVER = "9999-12-31T23:59:59+00:00"
PROFILE = "PROFILE"
PROFILE_OPEN_SK = "#PROFILE"  # sorts before every LOT#: one Query gives profile, then lots


def program_pk(program_id: str) -> str:
    return f"PROG#{program_id}"


SETTINGS_SK = "CFG"
PROGRAMS = "PROGRAMS"


def tier_sk(tier_id: str) -> str:
    return f"TIER#{tier_id}"


def reward_sk(reward_id: str) -> str:
    return f"REWARD#{reward_id}"


def segment_sk(segment_id: str) -> str:
    return f"SEGMENT#{segment_id}"


def member_pk(program_id: str, member_id: str) -> str:
    return f"PROG#{program_id}#MEM#{member_id}"


def entry_sk(source_kind: str, source_id: str) -> str:
    return f"TX#{source_kind}#{source_id}"


def identity_pk(program_id: str, kind: str, value: str) -> str:
    """Uniqueness marker of a normalised email or phone within a program."""
    return f"PROG#{program_id}#{kind.upper()}#{value}"


IDENTITY_SK = "IDENTITY"


def earning_rule_sk(rule_id: str) -> str:
    return f"RULE#{rule_id}"


def counter_key(program_id: str, owner: str, owner_id: str, shard: int) -> dict[str, str]:
    """One shard of a capped thing's counter (a reward's stock and budget, a rule's points budget)."""
    # The shard is in the partition key: shards under one partition key would share its write limit.
    return {"PK": f"PROG#{program_id}#{owner}#{owner_id}#{shard}", "SK": "COUNTER"}


def reward_counter_key(program_id: str, reward_id: str, shard: int) -> dict[str, str]:
    return counter_key(program_id, "REWARD", reward_id, shard)


def rule_budget_key(program_id: str, rule_id: str, shard: int) -> dict[str, str]:
    return counter_key(program_id, "RULE", rule_id, shard)


def timestamp(moment: datetime | None) -> str:
    return moment.isoformat(timespec="seconds") if moment else NEVER


def open_lot_sk(expires_at: datetime | None, lot_id: str) -> str:
    return f"LOT#{timestamp(expires_at)}#{lot_id}"


def expiry_shard(program_id: str, member_id: str) -> int:
    return zlib.crc32(f"{program_id}#{member_id}".encode()) % EXPIRY_SHARDS


# The sparse GSI1 holds what the scheduled jobs must find, by job and day, in EXPIRY_SHARDS slices:
#   EXP#<day>#<shard>   lots with points left, by when they expire (expiry sweep, reminders)
#   AVL#<day>#<shard>   pending lots, by when they become available (pending activation)
#   TIER#<day>#<shard>  members whose tier validity ends that day (tier review)
# An item leaves the index when the job is done with it, so every job reads only due work.
#   ENR#<day>#<shard>   members enrolled that day (welcome reminders)
#   BDAY#<MM-DD>#<shard> members born on that day of the year (birthday reminders)
# A member's own schedule is a small "due item" (SK DUE#<kind>) in that member's partition:
# its inactivity expiry (in the EXP partitions), tier review, welcome and birthday.
EXPIRING, AVAILABLE, TIER_REVIEW, ENROLLED, BIRTHDAY = "EXP", "AVL", "TIER", "ENR", "BDAY"


def due_partition(job: str, day: str, shard: int) -> str:
    return f"{job}#{day}#{shard}"


def due_index_keys(job: str, program_id: str, member_id: str, item_id: str, due_at: datetime) -> dict[str, str]:
    return {
        "GSI1PK": due_partition(job, due_at.strftime("%Y-%m-%d"), expiry_shard(program_id, member_id)),
        "GSI1SK": f"{timestamp(due_at)}#{item_id}",  # the item itself names its member
    }


def expiry_index_keys(program_id: str, member_id: str, lot_id: str, expires_at: datetime) -> dict[str, str]:
    """Sparse expiry index: present only while the lot has points left."""
    return due_index_keys(EXPIRING, program_id, member_id, lot_id, expires_at)


def expiry_due(expires_at: datetime, now: datetime) -> datetime:
    """When the expiry sweep is to find a lot that gets points now: at its expiry, or now when that is past.

    A late sale, or points given back to a lot that expired, would otherwise sit under a day the sweep
    (it reads a week back) never reads again, and stay in the balance for good. Crediting, then expiring
    at the next sweep (rather than refusing a late sale) keeps the order's history honest: earn, expire.
    """
    return max(expires_at, now)


TIER_REVIEW_SK = "DUE#tier_review"


def due_sk(kind: str) -> str:
    return f"DUE#{kind}"


def birthday_partition(month_day: str, program_id: str, member_id: str) -> str:
    return birthday_shard_partition(month_day, expiry_shard(program_id, member_id))


def birthday_shard_partition(month_day: str, shard: int) -> str:
    return f"{BIRTHDAY}#{month_day}#{shard}"


def reward_window_attribute(reward_id: str) -> str:
    """The profile attribute holding a reward's recent redemptions (top level: old profiles need no map)."""
    return f"{REWARD_WINDOW}{reward_id}"


REWARD_WINDOW = "window#"


def exclusivity_key(program_id: str, order_id: str, group: str) -> dict[str, str]:
    """The marker that one code of an exclusivity group was consumed on an order."""
    return {"PK": f"PROG#{program_id}#ORDER#{order_id}", "SK": f"EXCL#{group}"}


def code_index_keys(program_id: str, code: str) -> dict[str, str]:
    return {"GSI1PK": f"CODE#{program_id}#{code}", "GSI1SK": "REDEMPTION"}


# Report aggregates, maintained by the reporter from the table's stream (see store/reports.py):
#   PK=PROG#p#REPORT#<n>  SK=DAY#<YYYY-MM-DD> (program's local day) | TOTALS (all time, members by tier)
#   PK=REPORT#SEEN#<stream record id>  SK=SEEN: a record already counted (TTL after the stream's 24 h)
# Every reporter transaction writes a day item and the totals. At 10,000 earns/s the stream has many
# shards, each with its own reporter, and one partition would take ~480 transactional writes/s of
# ~2 KB items (~1,900 WCU/s, twice the partition's 1,000): each transaction picks one of 8 report
# shards (~240 WCU/s each), and a summary reads the 8 and adds them up.
REPORT_SHARDS = 8
REPORT_TOTALS_SK = "TOTALS"
REPORT_SEEN_SK = "SEEN"


def report_pk(program_id: str, shard: int) -> str:
    return f"PROG#{program_id}#REPORT#{shard}"


def report_shard(event_id: str) -> int:
    """The report shard a transaction writes, from its first stream record (stable across retries)."""
    return zlib.crc32(event_id.encode()) % REPORT_SHARDS


def report_day_sk(day: str) -> str:
    return f"DAY#{day}"


def report_seen_key(event_id: str) -> dict[str, str]:
    # One partition per record: markers spread over the table instead of heating one key.
    return {"PK": f"REPORT#SEEN#{event_id}", "SK": REPORT_SEEN_SK}
