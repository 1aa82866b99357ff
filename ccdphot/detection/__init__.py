"""Detection for crowded fields: seeing-matched SExtractor setup and residual searches."""
