"""The VAE objective family: pure loss terms, σ policies, and their weighted composition."""
