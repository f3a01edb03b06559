"""Insight: post-incident reports, follow-up actions, SLA and trend reports, and learned
suggestions, from the history incidentd keeps (incidents, timelines, recorded alerts)."""
