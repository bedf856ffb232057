"""Complaint workflow, SLA clocks and breaches, satisfaction surveys.

REST under `/v1/complaints`. Each workflow action is its own `POST /v1/complaints/{id}/<action>`
(acknowledge, start, wait-for-customer, resume, resolve, close, reopen, escalate, assign) and
needs `If-Match` with the complaint's `ETag` (its version): a stale one gets 412, a missing one
428. An action the workflow does not allow now gets 409 with the `allowed` transitions. Times in
bodies (`reported_at`, `at`) are event times and default to now. Every change is published on
`crm.complaint.v1` through the complaint document's embedded outbox; a background check records
each SLA breach once, emits it and escalates the complaint.

Resolving opens the complaint's one CSAT survey behind a random link (only its SHA-256 is kept)
that the customer answers without an account under `/v1/surveys/{token}`. Attachments are
metadata only; the files live in a document store. Merged customers' complaints move to the
survivor and erased customers' personal data is removed, from `crm.customer.v1`.
"""
