"""The complaint service's domain: rules without I/O.

`workflow` holds the state machine, resolution, escalation and categories; `sla` the
business-hours calendar, SLA policies, clocks and breaches. Time is always passed in.
"""
