"""Tests of the lab: the lab PKI, real nginx scenarios."""
