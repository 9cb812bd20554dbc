"""Certificates: tolerant loading (``load``), per-certificate facts (``facts``), chain trees
(``tree``); plus verification and the lab PKI in their own modules.

Nothing is imported here on purpose: ``import mtls_doctor.pki.load`` etc. keeps start-up cheap.
"""
