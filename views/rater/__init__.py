"""The rater's page, the only page a study link reaches."""
