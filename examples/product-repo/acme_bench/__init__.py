"""ACME G1 glasses: the glassbench pieces that belong to this product (protocol profile)."""
