"""Every Redis key format of the gateway: the one place that knows them.

Survivors' numbers and inputs are stored only encrypted (privacy.Vault), in fields named `enc:*`;
records about a phone are found by its keyed hash (privacy.Vault.digest), never by the number.
"""

# ---- key formats (the only place that knows them) ------------------------------------------
PREFIX = "hd:"
PHONE = PREFIX + "phone:{digest}"  # hash: enc:phone, lang, ... (profile of one phone)
MESSAGE = PREFIX + "msg:{id}"  # hash: enc:to, enc:body, purpose, case, recipient, state, route…
OUTBOX = PREFIX + "outbox"  # list of message ids written by the console channel (newest first)
OUTBOX_MAX = 500
ENCRYPTED_FIELD = "enc:"
USSD_SESSION = PREFIX + "ussd:{session}"  # hash: HOP_FIELD, last (keyed hash of its text)
HOP_FIELD = "enc:hop"  # one token: {"state": the menu state..., "reply": the screen shown}
USSD_LOCK = PREFIX + "ussdlock:{session}"  # string, serialises duplicate deliveries of a hop
# string: encrypted {"phone", "resume"} (her number, so key rotation can re-key it)
RESUME = PREFIX + "resume:{digest}"  # the menu state of a session she dropped
# string: the provider id encrypted (so key rotation can re-key it), or "1" from older versions
SEEN = PREFIX + "seen:{channel}:{id}"  # inbound provider ids already handled (dedupe)
CASE = PREFIX + "case:{id}"  # hash: Case fields, enc:phone, enc:note:N
REF = PREFIX + "ref:{ref}"  # string: case id, while the case is not closed
OPEN_CASES = PREFIX + "cases:open"  # sorted set: case id -> created
TAKEN_CASES = PREFIX + "cases:taken"  # sorted set: case id -> taken at
CLOSED_COUNT = PREFIX + "cases:closed"  # counter of cases closed
METRIC_SENDS = PREFIX + "metrics:sends"  # hash: "route|state" -> count
METRIC_LATENCY = PREFIX + "metrics:latency:{endpoint}"  # hash: bucket bound / sum / count
LOGIN_SEEN = PREFIX + "login:{outcome}"  # string: throttles audit entries for operator logins
# hash: count, until (epoch before which no password is checked) of failed operator logins, by
# kind ("user" name or "source" address) and its keyed hash; forgotten LOGIN_MEMORY after the last
LOGIN_FAILS = PREFIX + "loginfail:{kind}:{digest}"
LOGIN_MEMORY = 86400
# hash: n (events), enc:phone (so key rotation can re-key it); one per phone, purpose, window
RATE = PREFIX + "rate:{what}:{digest}:{window}"
AUDIT = PREFIX + "audit"  # stream: who did what, when (ids and kinds only, never numbers)
DIRECTORY_GEN = PREFIX + "directory:generation"  # counter: bumped by `flask directory reload`
DIRECTORY_SNAPSHOT = PREFIX + "directory:snapshot"  # string: JSON of the last loaded directory
AUDIT_HEAD = PREFIX + "audit:head"  # string: hash of the newest audit entry (the chain's end)
CLOSED_REF = PREFIX + "closedref:{ref}"  # string: case id of a closed case, for status checks
ALERTED = PREFIX + "alerted:{case}"  # set: responder ids alerted for a case (may accept it)
DECLINED = PREFIX + "declined:{case}"  # set: responder ids who answered NO
ALERTS_FOR = PREFIX + "alertsfor:{responder}"  # set: case ids a responder was alerted for
ALERTS_FOR_TTL = 7 * 86400  # (settled cases are pruned on read; a quiet responder's set expires)
PROVIDER = PREFIX + "provider:{route}:{provider_id}"  # string: message id of a provider's id
SEND_SLOT = PREFIX + "sendslot:{route}:{second}"  # counter: sends on a route in one second
# string: a registered responder's command for a case, first seen (later repeats are rate limited)
RESPONDER_COMMAND = PREFIX + "cmd:{responder}:{command}:{case}"
RESPONDER_COMMAND_TTL = 30 * 86400
METRIC_INBOUND_DROPPED = PREFIX + "metrics:inbound_dropped"  # hash: "channel|reason" -> count
METRIC_UNREPLICATED = PREFIX + "metrics:unreplicated"  # hash: what was written -> count
# string, expiring: the replicas did not confirm a write lately; every process skips WAIT
REPLICAS_AWAY = PREFIX + "replicas:away"
# hash: "route|state" -> count, per RECENT_BUCKET seconds (route health over the last hour)
METRIC_RECENT = PREFIX + "metrics:recent:{bucket}"
RECENT_BUCKET = 600
RECENT_BUCKETS = 6
HEARD = PREFIX + "watch:heard"  # hash: "route:phone" (an Android app's deviceId) -> last webhook at
SELFTEST = PREFIX + "watch:selftest"  # hash: route -> JSON {message, at} of its last self-test
WATCHED = PREFIX + "watch:problems"  # hash: problem -> JSON {since, gone, told} (gateway.watch)
RECONCILED = PREFIX + "watch:reconciled"  # hash: route -> until when its inbound was reconciled
# hash: problem -> times told by SMS that day, and "problem@since" for each telling counted
TOLD = PREFIX + "watch:told:{day}"
WATCH_TURN = PREFIX + "watch:turn:{minute}"  # string, expiring: one watch per clock minute
SLOW_ROUTE = PREFIX + "slow:{route}"  # string, expiring: the route timed out; skip it meanwhile
HELD = PREFIX + "held:{responder}"  # sorted set: message id -> held at, alerts awaiting a digest
UNSENT = PREFIX + "unsent"  # sorted set: message id -> when it was dropped or held (last hour)
NOTICE = PREFIX + "notice:{what}"  # string, expiring: one notice per flood, saturation or outage
SEEN_TTL = 30 * 86400  # a captured webhook replayed within a month is still a repeat
RESUME_TTL = 300
# The phone simulator (synthetic numbers only): what each phone typed and sent, newest first, as
# encrypted JSON entries; kept SIM_TRANSCRIPT_TTL after the last entry, at most SIM_TRANSCRIPT_MAX
SIM_TRANSCRIPT = PREFIX + "sim:transcript:{digest}"  # list
SIM_TRANSCRIPT_TTL = 3600
SIM_TRANSCRIPT_MAX = 200
SIM_SESSION = "sim-{session}"  # USSD sessionId of a simulator session (in USSD_SESSION keys)
# Operator accounts (gateway/accounts.py): hash of org, role, password (scrypt), disabled,
# created, enc:totp (the second factor's secret); the set of their names; a TOTP step used
# by an operator (kept two minutes: a code signs in once)
OPERATOR = PREFIX + "operator:{name}"
OPERATORS = PREFIX + "operators"
TOTP_USED = PREFIX + "totpused:{name}:{step}"
# A console sign-in: hash of operator, csrf; named by the keyed hash of its cookie, and gone
# after CONSOLE_IDLE seconds without a request
CONSOLE_SESSION = PREFIX + "console:{digest}"
# set: the ids of a case's messages (its timeline on the console); kept with the case
CASE_MESSAGES = PREFIX + "casemsgs:{case}"
# Mutual aid groups (gateway/store/members.py): a member's record (enc:phone, lang, groups,
# how:<group> and at:<group> she joined), named by a keyed hash of its own kind; a group's set
# of member digests; a broadcast (group, template, its words, by, created, send_at, count);
# the broadcasts by when they were made; the ids of a broadcast's messages.
MEMBER = PREFIX + "member:{digest}"
MEMBER_HASHED = "member|{phone}"  # what a member's digest hashes: never her profile's digest
GROUP_MEMBERS = PREFIX + "group:{group}:members"
BROADCAST = PREFIX + "broadcast:{id}"
BROADCASTS = PREFIX + "broadcasts"
BROADCAST_MESSAGES = PREFIX + "broadcast:{id}:messages"
BROADCAST_PENDING = PREFIX + "broadcast:{id}:pending"  # list: message ids not yet queued
# string, expiring: a sender's MEET awaiting their YES (the draft as JSON)
MEET_DRAFT = PREFIX + "meetdraft:{responder}:{group}"
MEET_DRAFT_TTL = 3600
