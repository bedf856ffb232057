"""The streaming loyalty / churn-risk scorer (Faust) and its read API."""
