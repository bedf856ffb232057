"""Complaint workflow, SLA clocks and breaches, satisfaction surveys.

REST under `/v1/complaints`. Each workflow action is its own `POST /v1/complaints/{id}/<action>`
(acknowledge, start, wait-for-customer, resume, resolve, close, reopen, escalate, assign) and
needs `If-Match` with the complaint's `ETag` (its version): a stale one gets 412, a missing one
428. An action the workflow does not allow now gets 409 with the `allowed` transitions. Times in
bodies (`reported_at`, `at`) are event times and default to now. Every change is published on
`crm.complaint.v1` through the complaint document's embedded outbox; a background check records
each SLA breach once, emits it and escalates the complaint.
"""
