"""Use-cases: what the gateway does, one concern per module, built by `gateway.compose`.

Intake: `ussd` (a USSD hop), `sms` (an inbound SMS), `opening` (a case for her), `spooled`
(what came in while Redis was away). Alerting: `alerting` (plan, escalate), `answers` (OK, NO,
DONE, AID; an operator's hand-over and close), `sending` (a message through the routes),
`digests`, `replay`, `receipts` (delivery status). After OK: `followup` (LATER, NOTE, the
reminders), `referrals` (to another organisation, with her consent), `groups` (mutual aid
groups: members, broadcasts, MEET). Operators: `casefile`
(the console's view of cases). Shared: `roster` (the
directory this process runs), `outbox` (messages on their way out), `timing`. None of them
imports Flask, a provider SDK or the settings.
"""
