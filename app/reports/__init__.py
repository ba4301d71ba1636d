"""The like-to-lead report: social-metric snapshots, SQL aggregates, A/B variants, rollups."""
