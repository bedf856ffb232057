"""Complaint workflow, SLA clocks and breaches, satisfaction surveys."""
