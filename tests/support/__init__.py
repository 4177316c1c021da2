"""Real collaborators for tests: a SeaweedFS S3 server and a local HTTP origin."""
