"""The movie-critic case study: learn a critic's taste from a few ratings and predict the rest."""
